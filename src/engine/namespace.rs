//! Namespaces (design §4.5): who is asking and every piece of session state that can
//! change a result or its encoding. Equal material gets the same numeric ID, so the
//! cache key holds an 8-byte ID instead of the whole material, without collisions.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Most distinct namespaces remembered; past it the table starts over (old entries
/// become unreachable and expire).
const MAX_NAMESPACES: usize = 100_000;

/// Builds the material of a namespace: length-prefixed fields in a fixed order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NamespaceMaterial {
    bytes: Vec<u8>,
}

impl NamespaceMaterial {
    pub fn push(&mut self, field: &[u8]) {
        let len = u32::try_from(field.len()).unwrap_or(u32::MAX);
        self.bytes.extend_from_slice(&len.to_le_bytes());
        self.bytes.extend_from_slice(field);
    }

    pub fn push_pair(&mut self, name: &str, value: &str) {
        self.push(name.as_bytes());
        self.push(value.as_bytes());
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// Interns namespace material into IDs.
#[derive(Debug, Default)]
pub struct NamespaceRegistry {
    ids: Mutex<HashMap<Box<[u8]>, u64>>,
    next: AtomicU64,
}

impl NamespaceRegistry {
    /// The ID shared by every session with exactly this material.
    pub fn intern(&self, material: &NamespaceMaterial) -> u64 {
        let mut ids = self.ids.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(id) = ids.get(material.as_bytes()) {
            return *id;
        }
        if ids.len() >= MAX_NAMESPACES {
            ids.clear();
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        ids.insert(material.as_bytes().into(), id);
        id
    }

    /// An ID no other session will ever share (a session whose state we cannot know).
    pub fn private(&self) -> u64 {
        self.next.fetch_add(1, Ordering::Relaxed) + 1
    }
}

/// Session-changing statements remembered per session before its namespace is made
/// private instead (bounds the material of a session that keeps setting new values).
const MAX_SESSION_SETS: usize = 64;

/// A session's namespace as it evolves: the material fixed at login, plus the text of
/// every session-changing statement since (`SET …`, `USE …`), or private once the
/// session did something whose effect on its state cannot be seen.
#[derive(Debug, Clone)]
pub struct SessionNamespace {
    base: NamespaceMaterial,
    sets: Vec<Box<[u8]>>,
    tainted: bool,
}

impl SessionNamespace {
    pub fn new(base: NamespaceMaterial) -> Self {
        Self {
            base,
            sets: Vec::new(),
            tainted: false,
        }
    }

    /// Back to a fresh login state (a new user, a reset connection).
    pub fn reset(&mut self, base: NamespaceMaterial) {
        *self = Self::new(base);
    }

    /// Remembers a session-changing statement (the same text again moves to the end).
    pub fn remember(&mut self, text: &[u8]) {
        self.sets.retain(|s| &**s != text);
        self.sets.push(text.into());
        if self.sets.len() > MAX_SESSION_SETS {
            self.taint();
        }
    }

    /// From now on the session shares its namespace with no other.
    pub fn taint(&mut self) {
        self.tainted = true;
        self.sets.clear();
    }

    /// The namespace ID for the current state.
    pub fn id(&self, registry: &NamespaceRegistry) -> u64 {
        match self.material() {
            Some(m) => registry.intern(&m),
            None => registry.private(),
        }
    }

    /// The material of the current state, the same in every instance for the same
    /// login and statements; `None` once the session shares its namespace with none.
    pub fn material(&self) -> Option<NamespaceMaterial> {
        if self.tainted {
            return None;
        }
        let mut m = self.base.clone();
        for s in &self.sets {
            m.push(s);
        }
        Some(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_namespaces_follow_their_statements() {
        let r = NamespaceRegistry::default();
        let mut base = NamespaceMaterial::default();
        base.push_pair("user", "alice");
        let mut a = SessionNamespace::new(base.clone());
        let mut b = SessionNamespace::new(base.clone());
        assert_eq!(a.id(&r), b.id(&r));
        a.remember(b"SET search_path = x");
        assert_ne!(a.id(&r), b.id(&r));
        b.remember(b"SET search_path = x");
        assert_eq!(a.id(&r), b.id(&r));
        a.remember(b"SET search_path = x");
        assert_eq!(a.id(&r), b.id(&r), "repeating a statement changes nothing");
        b.taint();
        assert_ne!(b.id(&r), b.id(&r), "a tainted session shares with nobody");
        b.reset(base.clone());
        assert_eq!(b.id(&r), SessionNamespace::new(base).id(&r));
        for i in 0..=MAX_SESSION_SETS {
            a.remember(format!("SET x = {i}").as_bytes());
        }
        assert_ne!(a.id(&r), a.id(&r), "too many settings: private");
    }

    #[test]
    fn equal_material_equal_id() {
        let r = NamespaceRegistry::default();
        let mut a = NamespaceMaterial::default();
        a.push_pair("user", "alice");
        let mut b = NamespaceMaterial::default();
        b.push_pair("user", "alice");
        let mut c = NamespaceMaterial::default();
        c.push_pair("user", "bob");
        assert_eq!(r.intern(&a), r.intern(&b));
        assert_ne!(r.intern(&a), r.intern(&c));
        assert_ne!(r.private(), r.intern(&a));
    }
}
