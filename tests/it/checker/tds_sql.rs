//! The SQL Server driver's T-SQL: the text of every statement the checker sends, and
//! the steps of each write. Writes learn their version from `OUTPUT inserted.ver` /
//! `deleted.ver`. T-SQL has no writable CTE, so (as on MariaDB) an insert or delete is
//! a short sequence that locks the key's `seqs` row first (see [`super::model`]), and
//! is generated only inside transactions. T-SQL has no `RELEASE SAVEPOINT`: a release
//! sends nothing (the savepoint stays, unused, as SQL Server's would).

use super::model::{BeginKind, Stmt, WriteKind, group_of};
use super::sql::{self, Param};

/// tiberius's placeholders: `@P1`, `@P2`, …
pub fn at_p(n: usize) -> String {
    format!("@P{n}")
}

/// The text of a statement sent as a SQLBatch (`None`: nothing is sent).
pub fn text(stmt: &Stmt, conn: usize) -> Option<String> {
    Some(match stmt {
        Stmt::Read(shape, _) => sql::read_text(*shape),
        Stmt::Write(kind, key, _) => write_text(*kind, *key),
        Stmt::Batch(shapes) => {
            let parts: Vec<String> = shapes.iter().map(|s| sql::read_text(*s)).collect();
            parts.join("; ")
        }
        Stmt::Begin(BeginKind::AutocommitOff, _) => "SET IMPLICIT_TRANSACTIONS ON".into(),
        Stmt::Begin(BeginKind::ExplicitAlt, None) => "BEGIN TRANSACTION".into(),
        Stmt::Begin(_, Some((kind, key))) => format!("BEGIN TRAN; {}", write_text(*kind, *key)),
        Stmt::Begin(_, None) => "BEGIN TRAN".into(),
        Stmt::Commit => "COMMIT".into(),
        Stmt::Rollback => "ROLLBACK".into(),
        // SQL Server has no implicit commit: leaving implicit-transaction mode keeps
        // the open transaction (the runner sends it after the COMMIT).
        Stmt::ImplicitCommit(_) | Stmt::RestoreAutocommit => "SET IMPLICIT_TRANSACTIONS OFF".into(),
        Stmt::Savepoint(n) => format!("SAVE TRANSACTION s{n}"),
        Stmt::RollbackTo(n) => format!("ROLLBACK TRANSACTION s{n}"),
        Stmt::Release(_) => return None,
        Stmt::ForcedError => "INSERT INTO grps (grp, name) VALUES (0, 'g0')".into(),
        Stmt::ScratchDdl => {
            format!("DROP TABLE IF EXISTS scratch_{conn}; CREATE TABLE scratch_{conn} (x int)")
        }
    })
}

/// The statements of a write, in order, as text (an insert's second step shows its
/// version as learned from the first: `0` here).
pub fn write_text(kind: WriteKind, key: i64) -> String {
    let steps = write_steps(kind, key, None);
    let texts: Vec<String> = steps.iter().map(|(q, p)| inline(q, p)).collect();
    texts.join("; ")
}

/// The statement with its `@Pn` parameters written in as literals.
pub fn inline(q: &str, params: &[Param]) -> String {
    let mut out = q.to_string();
    for (i, p) in params.iter().enumerate().rev() {
        let lit = match p {
            Param::Int(v) => v.to_string(),
            Param::Text(t) => format!("N'{t}'"),
        };
        out = out.replace(&at_p(i + 1), &lit);
    }
    out
}

/// The statements of a write with `@Pn` placeholders. An update answers its new
/// version; an insert takes `seqs.ver + 1` (answered by its first step) and needs it
/// for its second, given as `learned`; a delete locks `seqs`, deletes (answering the
/// deleted row's version `d`), then records `d + 1` (given as `learned`).
pub fn write_steps(kind: WriteKind, key: i64, learned: Option<i64>) -> Vec<(String, Vec<Param>)> {
    let k = Param::Int(key);
    let v = learned.unwrap_or(0);
    let t = sql::table(key);
    match kind {
        WriteKind::Update => vec![(
            format!("UPDATE {t} SET ver = ver + 1 OUTPUT inserted.ver WHERE id = @P1"),
            vec![k],
        )],
        WriteKind::Insert => vec![
            (
                "UPDATE seqs SET ver = ver + 1 OUTPUT inserted.ver WHERE id = @P1".into(),
                vec![k.clone()],
            ),
            (
                format!("INSERT INTO {t} (id, grp, ver) VALUES (@P1, @P2, @P3)"),
                vec![k, Param::Int(group_of(key)), Param::Int(v)],
            ),
        ],
        WriteKind::Delete => vec![
            (
                "UPDATE seqs SET ver = ver WHERE id = @P1".into(),
                vec![k.clone()],
            ),
            (
                format!("DELETE FROM {t} OUTPUT deleted.ver WHERE id = @P1"),
                vec![k.clone()],
            ),
            (
                "UPDATE seqs SET ver = @P1 WHERE id = @P2".into(),
                vec![Param::Int(v + 1), k],
            ),
        ],
    }
}

/// A write's steps as one text, with all their parameters (for histories).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_inline_and_number_their_parameters() {
        assert_eq!(
            write_text(WriteKind::Update, 5),
            "UPDATE kv_1 SET ver = ver + 1 OUTPUT inserted.ver WHERE id = 5"
        );
        let steps = write_steps(WriteKind::Delete, 6, Some(4));
        assert_eq!(
            inline(&steps[2].0, &steps[2].1),
            "UPDATE seqs SET ver = 5 WHERE id = 6"
        );
        assert_eq!(text(&Stmt::Release(1), 0), None);
        assert_eq!(
            text(&Stmt::RollbackTo(2), 0).as_deref(),
            Some("ROLLBACK TRANSACTION s2")
        );
    }
}
