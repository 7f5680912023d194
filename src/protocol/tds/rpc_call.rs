//! What one decoded RPC call is for the session: a statement run with parameters
//! (`sp_executesql`, or `sp_execute` of a handle this session prepared), a prepare
//! (`sp_prepare`, `sp_prepexec`), an unprepare, another procedure, or something
//! wirecache cannot judge. Owned, so the request's bytes can be forwarded after.
//! Also the session's handles: each maps to the statement it was prepared with.

use std::collections::HashMap;
use std::sync::Arc;

use super::rpc::{
    Param, Proc, Rpc, SP_EXECUTE, SP_EXECUTESQL, SP_PREPARE, SP_PREPEXEC, SP_UNPREPARE,
};
use super::rpc_sql::{declared, for_classifier, int, text};
use super::types::utf16;
use crate::engine::BypassReason;

/// Handles tracked per session, at most; past it new ones are not tracked (their
/// executions are forwarded as unknown).
const MAX_HANDLES: usize = 10_000;
/// RPC option flag WithRecomp: changes no result. Others (NoMetaData, ReuseMeta) do.
const WITH_RECOMP: u16 = 0x01;

/// A statement prepared on the origin under a handle.
#[derive(Debug, PartialEq, Eq)]
pub struct Prepared {
    /// `@stmt` and `@params` as sent (their bytes are part of the key).
    pub stmt: Vec<u8>,
    pub decl: Vec<u8>,
    /// The statement as the classifier sees it.
    pub sql: String,
    /// Why its executions are never cached (an OUTPUT parameter), if so.
    pub uncacheable: Option<BypassReason>,
}

/// A statement to run: what the classifier sees and what the key is made of.
#[derive(Debug, PartialEq, Eq)]
pub struct Run {
    pub sql: String,
    pub key: Vec<Vec<u8>>,
    /// Why it may not be answered from (or stored in) the cache, if so.
    pub uncacheable: Option<BypassReason>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Call {
    /// `sp_executesql`, or `sp_execute` of a known handle.
    Run(Run),
    /// `sp_prepare` (`run`: none) or `sp_prepexec`: the origin answers a handle.
    Prepare {
        prepared: Arc<Prepared>,
        run: Option<String>,
    },
    Unprepare(i32),
    /// Another procedure, as `EXEC name` for the classifier's catalog rules.
    Procedure(String),
    /// Nothing wirecache can judge: forwarded as a write of unknown extent.
    Unknown,
}

impl Call {
    pub fn as_str(&self) -> &'static str {
        match self {
            Call::Run(_) => "run",
            Call::Prepare { .. } => "prepare",
            Call::Unprepare(_) => "unprepare",
            Call::Procedure(_) => "procedure",
            Call::Unknown => "unknown",
        }
    }
}

/// The handles this session prepared (the origin's numbers: they are the session's
/// own, and never replayed to another).
#[derive(Debug, Default)]
pub struct Handles {
    map: HashMap<i32, Arc<Prepared>>,
}

impl Handles {
    pub fn insert(&mut self, handle: i32, p: Arc<Prepared>) {
        if self.map.len() < MAX_HANDLES || self.map.contains_key(&handle) {
            self.map.insert(handle, p);
        }
    }

    pub fn remove(&mut self, handle: i32) {
        self.map.remove(&handle);
    }

    pub fn clear(&mut self) {
        self.map.clear();
    }

    pub fn get(&self, handle: i32) -> Option<&Arc<Prepared>> {
        self.map.get(&handle)
    }
}

/// The well-known procedure an RPC calls, by ID or by its (system) name.
fn proc_id(p: Proc<'_>) -> Option<u16> {
    match p {
        Proc::Id(id) => Some(id),
        Proc::Name(n) => {
            let name = utf16(n).to_ascii_lowercase();
            let bare = name.strip_prefix("sys.").unwrap_or(&name);
            Some(match bare {
                "sp_executesql" => SP_EXECUTESQL,
                "sp_prepare" => SP_PREPARE,
                "sp_execute" => SP_EXECUTE,
                "sp_prepexec" => SP_PREPEXEC,
                "sp_unprepare" => SP_UNPREPARE,
                _ => return None,
            })
        }
    }
}

/// What `rpc` is, given the session's handles.
pub fn call(rpc: &Rpc<'_>, handles: &Handles) -> Call {
    let params = &rpc.params;
    let proc = match proc_id(rpc.proc) {
        Some(id) => id,
        None => return procedure(rpc.proc),
    };
    let get = |i: usize| params.get(i);
    match proc {
        SP_EXECUTESQL => match get(0).zip(Some(get(1))).and_then(|(s, d)| prepared(s, d)) {
            Some(p) => run(b"executesql", rpc, &p, params.get(2..).unwrap_or_default()),
            None => Call::Unknown,
        },
        SP_EXECUTE => {
            let Some(p) = get(0).and_then(int).and_then(|h| handles.get(h)) else {
                return Call::Unknown;
            };
            run(b"execute", rpc, p, params.get(1..).unwrap_or_default())
        }
        SP_PREPARE | SP_PREPEXEC => {
            let (Some(stmt), Some(true)) = (get(2), get(0).map(Param::is_output)) else {
                return Call::Unknown;
            };
            let Some(p) = prepared(stmt, get(1)) else {
                return Call::Unknown;
            };
            let run = (proc == SP_PREPEXEC).then(|| p.sql.clone());
            Call::Prepare {
                prepared: Arc::new(p),
                run,
            }
        }
        SP_UNPREPARE => get(0).and_then(int).map_or(Call::Unknown, Call::Unprepare),
        // The cursor procedures and others by ID.
        _ => Call::Unknown,
    }
}

/// A statement and its declarations from their parameters.
fn prepared(stmt: &Param<'_>, decl: Option<&Param<'_>>) -> Option<Prepared> {
    let sql = text(stmt)?;
    let (decl_bytes, decl_text) = match decl {
        Some(d) => (
            d.value.joined().unwrap_or_default(),
            text(d).unwrap_or_default(),
        ),
        None => (Vec::new(), String::new()),
    };
    let names = declared(&decl_text);
    Some(Prepared {
        stmt: stmt.value.joined()?,
        decl: decl_bytes,
        sql: for_classifier(&sql, names.as_deref().unwrap_or_default()),
        uncacheable: names.is_none().then_some(BypassReason::SessionVariable),
    })
}

/// A run of `p` with `values`; `what` tells `sp_executesql` and `sp_execute` apart.
fn run(what: &[u8], rpc: &Rpc<'_>, p: &Prepared, values: &[Param<'_>]) -> Call {
    let mut key = vec![
        what.to_vec(),
        rpc.options.to_le_bytes().to_vec(),
        p.stmt.clone(),
        p.decl.clone(),
    ];
    key.extend(values.iter().map(|v| v.raw.to_vec()));
    let uncacheable = if values.iter().any(Param::is_output) {
        Some(BypassReason::SessionVariable)
    } else if rpc.options & !WITH_RECOMP != 0 {
        Some(BypassReason::RuleSaysNo)
    } else {
        p.uncacheable
    };
    Call::Run(Run {
        sql: p.sql.clone(),
        key,
        uncacheable,
    })
}

/// Another procedure: `EXEC name` when its name is a plain (possibly qualified) one.
fn procedure(p: Proc<'_>) -> Call {
    let Proc::Name(n) = p else {
        return Call::Unknown;
    };
    let name = utf16(n);
    let plain = name
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | '#' | '@' | '$'));
    if plain && !name.starts_with('.') {
        Call::Procedure(format!("EXEC {name}"))
    } else {
        Call::Unknown
    }
}
