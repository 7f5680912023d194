//! The MariaDB driver's SQL: the text of every statement the checker sends, and
//! the steps of each write (an insert or delete is a short sequence that locks the
//! key's `seqs` row; see [`super::model`]).

use super::model::{BeginKind, Stmt, WriteKind, group_of};
use super::sql::{self, Param};

/// The text of a statement sent as COM_QUERY.
pub fn text(stmt: &Stmt, conn: usize) -> String {
    match stmt {
        Stmt::Read(shape, _) => sql::read_text(*shape),
        Stmt::Write(kind, key, _) => write_text(*kind, *key),
        Stmt::Batch(shapes) => {
            let parts: Vec<String> = shapes.iter().map(|s| sql::read_text(*s)).collect();
            parts.join("; ")
        }
        Stmt::Begin(BeginKind::AutocommitOff, _) => "SET autocommit = 0".into(),
        Stmt::Begin(BeginKind::ExplicitAlt, _) => "BEGIN".into(),
        Stmt::Begin(_, Some((kind, key))) => {
            format!("START TRANSACTION; {}", write_text(*kind, *key))
        }
        Stmt::Begin(_, None) => "START TRANSACTION".into(),
        Stmt::Commit => "COMMIT".into(),
        Stmt::Rollback => "ROLLBACK".into(),
        Stmt::ImplicitCommit(BeginKind::AutocommitOff) | Stmt::RestoreAutocommit => {
            "SET autocommit = 1".into()
        }
        Stmt::ImplicitCommit(_) | Stmt::ScratchDdl => {
            format!("CREATE OR REPLACE TABLE scratch_{conn} (x int)")
        }
        Stmt::Savepoint(n) => format!("SAVEPOINT s{n}"),
        Stmt::RollbackTo(n) => format!("ROLLBACK TO SAVEPOINT s{n}"),
        Stmt::Release(n) => format!("RELEASE SAVEPOINT s{n}"),
        Stmt::ForcedError => "INSERT INTO grps (grp, name) VALUES (0, 'g0')".into(),
    }
}

/// The statements of a write, in order, as text.
pub fn write_text(kind: WriteKind, key: i64) -> String {
    let steps = write_steps(kind, key, None);
    let texts: Vec<String> = steps.iter().map(|(q, p)| inline(q, p)).collect();
    texts.join("; ")
}

/// The statement with its parameters written in as literals.
pub fn inline(q: &str, params: &[Param]) -> String {
    let mut out = String::new();
    let mut rest = params.iter();
    let mut chunks = q.split('?');
    if let Some(first) = chunks.next() {
        out.push_str(first);
    }
    for chunk in chunks {
        match rest.next() {
            Some(Param::Int(v)) => out.push_str(&v.to_string()),
            Some(Param::Text(t)) => out.push_str(&format!("'{t}'")),
            None => out.push('?'),
        }
        out.push_str(chunk);
    }
    out
}

/// The statements of a write with placeholders. An insert takes its version from
/// `seqs` (the OK packet's last insert id) and needs it for its second statement,
/// given as `learned`; a delete locks `seqs`, deletes, then records its version.
pub fn write_steps(kind: WriteKind, key: i64, learned: Option<i64>) -> Vec<(String, Vec<Param>)> {
    let k = Param::Int(key);
    let v = Param::Int(learned.unwrap_or(0));
    let t = sql::table(key);
    match kind {
        WriteKind::Update => vec![(
            format!("UPDATE {t} SET ver = LAST_INSERT_ID(ver + 1) WHERE id = ?"),
            vec![k],
        )],
        WriteKind::Insert => vec![
            (
                "UPDATE seqs SET ver = LAST_INSERT_ID(ver + 1) WHERE id = ?".into(),
                vec![k.clone()],
            ),
            (
                format!("INSERT INTO {t} (id, grp, ver) VALUES (?, ?, ?)"),
                vec![k, Param::Int(group_of(key)), v],
            ),
        ],
        WriteKind::Delete => vec![
            (
                "SELECT ver FROM seqs WHERE id = ? FOR UPDATE".into(),
                vec![k.clone()],
            ),
            (
                format!("DELETE FROM {t} WHERE id = ? RETURNING ver"),
                vec![k.clone()],
            ),
            (
                "UPDATE seqs SET ver = ? WHERE id = ?".into(),
                vec![Param::Int(learned.unwrap_or(0) + 1), k],
            ),
        ],
    }
}

pub fn write_prepared(kind: WriteKind, key: i64) -> (String, Vec<Param>) {
    let steps = write_steps(kind, key, None);
    let text = steps
        .iter()
        .map(|(q, _)| q.as_str())
        .collect::<Vec<_>>()
        .join("; ");
    let params: Vec<Param> = steps.into_iter().flat_map(|(_, p)| p).collect();
    (text, params)
}
