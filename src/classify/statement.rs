//! One parsed statement → its kind, its facts, and why it is not cacheable: the
//! per-statement decisions (which statements are reads, writes, DDL, transaction
//! control, session commands), then the AST walk for those that name relations.

use sqlparser::ast::{CopySource, Statement, UtilityOption, Visit};

use super::facts::Facts;
use super::walker::Walker;
use super::{Dialect, StatementKind, Uncacheable};

/// The classification of one statement before texts are combined.
#[derive(Debug)]
pub(super) struct Outcome {
    pub kind: StatementKind,
    pub facts: Facts,
    /// A reason decided by the statement type itself (e.g. `SHOW TABLES`).
    pub forced: Option<Uncacheable>,
}

impl Outcome {
    /// Why this single statement is not cacheable, most telling reason first.
    pub fn reason(&self) -> Option<Uncacheable> {
        let facts = &self.facts;
        let checks = [
            (facts.select_into, Some(Uncacheable::SelectInto)),
            (
                self.kind != StatementKind::Read,
                Some(Uncacheable::NotARead),
            ),
            (self.forced.is_some(), self.forced),
            (facts.locking, Some(Uncacheable::LockingClause)),
            (facts.session_var, Some(Uncacheable::SessionVariable)),
            (facts.temp_table, Some(Uncacheable::TemporaryTable)),
            (facts.system_catalog, Some(Uncacheable::SystemCatalog)),
            (facts.non_immutable, Some(Uncacheable::NonImmutableFunction)),
        ];
        checks
            .into_iter()
            .find(|(applies, _)| *applies)
            .and_then(|(_, reason)| reason)
    }
}

/// Strength of a kind when several statements share one text:
/// Ddl > Write > Transaction > Session > Other > Read.
pub(super) fn rank(kind: StatementKind) -> u8 {
    match kind {
        StatementKind::Read => 0,
        StatementKind::Other => 1,
        StatementKind::Session => 2,
        StatementKind::Transaction => 3,
        StatementKind::Write => 4,
        StatementKind::Ddl => 5,
    }
}

/// What the statement type alone decides.
struct Base {
    kind: StatementKind,
    walk: bool,
    forced: Option<Uncacheable>,
}

impl Base {
    fn new(kind: StatementKind) -> Self {
        Self {
            kind,
            walk: false,
            forced: None,
        }
    }

    fn walked(kind: StatementKind) -> Self {
        Self {
            kind,
            walk: true,
            forced: None,
        }
    }
}

pub(super) fn classify_statement(dialect: Dialect, statement: &Statement) -> Outcome {
    if let Statement::Explain {
        analyze,
        statement: inner,
        options,
        ..
    } = statement
    {
        return explain(dialect, *analyze, options.as_deref(), inner);
    }
    let mut walker = Walker::new(dialect);
    let base = base(dialect, statement, &mut walker.facts);
    if base.walk {
        // The walker never breaks; the result carries nothing.
        let _ = statement.visit(&mut walker);
    }
    let facts = walker.facts;
    let mut kind = base.kind;
    if facts.dml && rank(kind) < rank(StatementKind::Write) {
        kind = StatementKind::Write;
    }
    if facts.creates_table {
        kind = StatementKind::Ddl;
    }
    Outcome {
        kind,
        facts,
        forced: base.forced,
    }
}

/// EXPLAIN only plans; EXPLAIN ANALYZE runs the statement, so it writes what the
/// statement writes (and calls what it calls).
fn explain(
    dialect: Dialect,
    analyze: bool,
    options: Option<&[UtilityOption]>,
    inner: &Statement,
) -> Outcome {
    let analyze = analyze
        || options
            .unwrap_or_default()
            .iter()
            .any(|option| option.name.value.eq_ignore_ascii_case("analyze"));
    if !analyze {
        return Outcome {
            kind: StatementKind::Other,
            facts: Facts::default(),
            forced: None,
        };
    }
    let mut outcome = classify_statement(dialect, inner);
    if outcome.kind == StatementKind::Read {
        outcome.kind = StatementKind::Other;
    }
    outcome
}

fn base(dialect: Dialect, statement: &Statement, facts: &mut Facts) -> Base {
    use StatementKind::{Ddl, Other, Read, Session, Transaction, Write};
    match statement {
        Statement::Query(_) => Base::walked(Read),
        Statement::Insert(_) | Statement::Update(_) | Statement::Delete(_) => Base::walked(Write),
        Statement::Merge(_) => Base::walked(Write),
        Statement::Copy { source, to, .. } => copy(dialect, source, *to, facts),
        Statement::Truncate(truncate) => {
            for target in &truncate.table_names {
                facts.write_name(dialect, &target.name);
            }
            facts.writes_unknown = true;
            Base::new(Ddl)
        }
        Statement::Call(_) | Statement::Execute { .. } => {
            facts.writes_unknown = true;
            Base::walked(Write)
        }
        Statement::Lock(_) | Statement::LockTables { .. } => {
            facts.writes_unknown = true;
            Base::new(Other)
        }
        Statement::Declare { .. } => Base::walked(Other),
        s if is_transaction(s) => Base::new(Transaction),
        s if is_session(s) => Base::new(Session),
        s if is_catalog_read(s) => Base {
            kind: Read,
            walk: false,
            forced: Some(Uncacheable::SystemCatalog),
        },
        s if is_harmless(s) => Base::new(Other),
        s => {
            facts.writes_unknown = true;
            Base::new(if is_ddl(s) { Ddl } else { Other })
        }
    }
}

/// COPY TO reads (never cached); COPY FROM writes its table.
fn copy(dialect: Dialect, source: &CopySource, to: bool, facts: &mut Facts) -> Base {
    match (source, to) {
        (CopySource::Table { table_name, .. }, true) => {
            if let Some(table) = super::names::table_ref(dialect, table_name) {
                facts.read(dialect, table);
            }
            Base {
                kind: StatementKind::Read,
                walk: false,
                forced: Some(Uncacheable::NotARead),
            }
        }
        (CopySource::Query(_), true) => Base {
            kind: StatementKind::Read,
            walk: true,
            forced: Some(Uncacheable::NotARead),
        },
        (CopySource::Table { table_name, .. }, false) => {
            // Triggers and cascades are the engine's business (catalog facts).
            facts.write_name(dialect, table_name);
            Base::new(StatementKind::Write)
        }
        (CopySource::Query(_), false) => {
            facts.writes_unknown = true;
            Base::new(StatementKind::Write)
        }
    }
}

fn is_transaction(statement: &Statement) -> bool {
    match statement {
        // A BEGIN … END block with statements inside is procedural code.
        Statement::StartTransaction { statements, .. } => statements.is_empty(),
        Statement::Commit { .. }
        | Statement::Rollback { .. }
        | Statement::Savepoint { .. }
        | Statement::ReleaseSavepoint { .. } => true,
        _ => false,
    }
}

fn is_session(statement: &Statement) -> bool {
    matches!(
        statement,
        Statement::Set(_)
            | Statement::ShowVariable { .. }
            | Statement::ShowVariables { .. }
            | Statement::ShowStatus { .. }
            | Statement::Use(_)
            | Statement::Discard { .. }
            | Statement::Reset(_)
            | Statement::Prepare { .. }
            | Statement::Deallocate { .. }
    )
}

/// SHOW TABLES, DESCRIBE t and friends read server metadata.
fn is_catalog_read(statement: &Statement) -> bool {
    matches!(
        statement,
        Statement::ShowFunctions { .. }
            | Statement::ShowCreate { .. }
            | Statement::ShowColumns { .. }
            | Statement::ShowCatalogs { .. }
            | Statement::ShowDatabases { .. }
            | Statement::ShowProcessList { .. }
            | Statement::ShowSchemas { .. }
            | Statement::ShowCharset(_)
            | Statement::ShowObjects(_)
            | Statement::ShowTables { .. }
            | Statement::ShowViews { .. }
            | Statement::ShowCollation { .. }
            | Statement::ExplainTable { .. }
    )
}

/// Statements known not to change table data.
fn is_harmless(statement: &Statement) -> bool {
    matches!(
        statement,
        Statement::Analyze(_)
            | Statement::Vacuum(_)
            | Statement::LISTEN { .. }
            | Statement::UNLISTEN { .. }
            | Statement::NOTIFY { .. }
            | Statement::Kill { .. }
            | Statement::Flush { .. }
            | Statement::Fetch { .. }
            | Statement::Close { .. }
            | Statement::UnlockTables
    )
}

fn is_ddl(statement: &Statement) -> bool {
    is_create(statement) || is_alter_or_drop(statement) || is_privilege(statement)
}

fn is_create(statement: &Statement) -> bool {
    matches!(
        statement,
        Statement::CreateView(_)
            | Statement::CreateTable(_)
            | Statement::CreateVirtualTable { .. }
            | Statement::CreateIndex(_)
            | Statement::CreateRole(_)
            | Statement::CreateSecret { .. }
            | Statement::CreateServer(_)
            | Statement::CreatePolicy(_)
            | Statement::CreateConnector(_)
            | Statement::CreateOperator(_)
            | Statement::CreateOperatorFamily(_)
            | Statement::CreateOperatorClass(_)
            | Statement::CreateTextSearch(_)
            | Statement::CreateExtension(_)
            | Statement::CreateCollation(_)
            | Statement::CreateSchema { .. }
            | Statement::CreateDatabase { .. }
            | Statement::CreateFunction(_)
            | Statement::CreateTrigger(_)
            | Statement::CreateProcedure { .. }
            | Statement::CreateMacro { .. }
            | Statement::CreateSequence { .. }
            | Statement::CreateDomain(_)
            | Statement::CreateType { .. }
            | Statement::CreateUser(_)
    )
}

fn is_alter_or_drop(statement: &Statement) -> bool {
    matches!(
        statement,
        Statement::AlterTable(_)
            | Statement::AlterSchema(_)
            | Statement::AlterIndex { .. }
            | Statement::AlterView { .. }
            | Statement::AlterFunction(_)
            | Statement::AlterType(_)
            | Statement::AlterCollation(_)
            | Statement::AlterOperator(_)
            | Statement::AlterOperatorFamily(_)
            | Statement::AlterOperatorClass(_)
            | Statement::AlterTextSearch(_)
            | Statement::AlterRole { .. }
            | Statement::AlterPolicy(_)
            | Statement::AlterConnector { .. }
            | Statement::AlterUser(_)
            | Statement::Drop { .. }
            | Statement::DropFunction(_)
            | Statement::DropDomain(_)
            | Statement::DropProcedure { .. }
            | Statement::DropSecret { .. }
            | Statement::DropPolicy(_)
            | Statement::DropConnector { .. }
            | Statement::DropExtension(_)
            | Statement::DropOperator(_)
            | Statement::DropOperatorFamily(_)
            | Statement::DropOperatorClass(_)
            | Statement::DropTrigger(_)
            | Statement::RenameTable(_)
            | Statement::Comment { .. }
    )
}

fn is_privilege(statement: &Statement) -> bool {
    matches!(
        statement,
        Statement::Grant(_) | Statement::Deny(_) | Statement::Revoke(_)
    )
}
