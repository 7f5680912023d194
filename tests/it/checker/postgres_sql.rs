//! The PostgreSQL driver's SQL: the text of every statement the checker sends.
//! Each write is one statement; inserts and deletes use writable CTEs that lock
//! the key's `seqs` row (see [`super::model`]).

use super::model::{BeginKind, Stmt, WriteKind, group_of};
use super::sql::{self, Param};

/// The text of a statement sent as a simple query.
pub fn text(stmt: &Stmt, conn: usize) -> String {
    match stmt {
        Stmt::Read(shape, _) => sql::read_text(*shape),
        Stmt::Write(kind, key, _) => write_text(*kind, *key),
        Stmt::Batch(_) => String::new(),
        Stmt::Begin(BeginKind::RepeatableRead, _) => "BEGIN ISOLATION LEVEL REPEATABLE READ".into(),
        Stmt::Begin(BeginKind::Serializable, _) => "BEGIN ISOLATION LEVEL SERIALIZABLE".into(),
        Stmt::Begin(_, Some((kind, key))) => format!("BEGIN; {}", write_text(*kind, *key)),
        Stmt::Begin(_, None) => "BEGIN".into(),
        Stmt::Commit => "COMMIT".into(),
        Stmt::Rollback => "ROLLBACK".into(),
        Stmt::ImplicitCommit(_) | Stmt::RestoreAutocommit => String::new(),
        Stmt::Savepoint(n) => format!("SAVEPOINT s{n}"),
        Stmt::RollbackTo(n) => format!("ROLLBACK TO SAVEPOINT s{n}"),
        Stmt::Release(n) => format!("RELEASE SAVEPOINT s{n}"),
        Stmt::ForcedError => "INSERT INTO grps (grp, name) VALUES (0, 'g0')".into(),
        Stmt::ScratchDdl => {
            format!("DROP TABLE IF EXISTS scratch_{conn}; CREATE TABLE scratch_{conn} (x int)")
        }
    }
}

pub fn write_text(kind: WriteKind, key: i64) -> String {
    let (q, p) = write_prepared(kind, key);
    let mut out = q;
    for (i, v) in p.iter().enumerate().rev() {
        if let Param::Int(v) = v {
            out = out.replace(&format!("${}", i + 1), &v.to_string());
        }
    }
    out
}

/// Each write is one statement; inserts and deletes lock the key's `seqs` row in a
/// writable CTE. All answer one column: the new version (update, insert) or the
/// deleted row's version (delete).
pub fn write_prepared(kind: WriteKind, key: i64) -> (String, Vec<Param>) {
    let t = sql::table(key);
    match kind {
        WriteKind::Update => (
            format!("UPDATE {t} SET ver = ver + 1 WHERE id = $1 RETURNING ver"),
            vec![Param::Int(key)],
        ),
        WriteKind::Insert => (
            format!(
                "WITH s AS (UPDATE seqs SET ver = ver + 1 WHERE id = $1 RETURNING ver) \
                 INSERT INTO {t} (id, grp, ver) SELECT $1, $2, ver FROM s RETURNING ver"
            ),
            vec![Param::Int(key), Param::Int(group_of(key))],
        ),
        WriteKind::Delete => (
            format!(
                "WITH d AS (DELETE FROM {t} WHERE id = $1 RETURNING ver) \
                 UPDATE seqs SET ver = d.ver + 1 FROM d WHERE seqs.id = $1 RETURNING d.ver"
            ),
            vec![Param::Int(key)],
        ),
    }
}
