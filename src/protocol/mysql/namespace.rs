//! The session's namespace (design §4.5): the login identity it starts from, and
//! going back to it (COM_CHANGE_USER, COM_RESET_CONNECTION). Statements that change
//! it are the session core's business.

use super::session::{Identity, Session};
use crate::engine::NamespaceMaterial;

/// The namespace material fixed at login: cache, user, database, character set and
/// negotiated capabilities.
pub fn base_namespace(cache: &str, id: &Identity) -> NamespaceMaterial {
    let mut m = NamespaceMaterial::default();
    m.push(cache.as_bytes());
    m.push(&id.user);
    m.push(id.database.as_deref().unwrap_or(b"\0none"));
    m.push(&[id.charset]);
    m.push(&id.caps.to_le_bytes());
    m
}

impl Session {
    /// Back to a fresh login state as `identity` (COM_CHANGE_USER, COM_RESET_CONNECTION).
    pub fn reset_state(&mut self, identity: Identity) {
        let base = base_namespace(&self.core.cache().id, &identity);
        self.core.reset_session(base);
        self.identity = identity;
        self.stmts.clear();
    }
}
