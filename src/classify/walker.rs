//! The AST walk: a `sqlparser` [`Visitor`] that collects, for one statement, the
//! relations read and written, the functions called, and every fact that makes a
//! read uncacheable. It keeps CTE scopes (a CTE name shadows a table only inside its
//! query) and knows which table factors are the targets of a write. What it learns
//! goes into [`Facts`].

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::ops::ControlFlow;

use sqlparser::ast::{
    Delete, Expr, FromTable, FunctionArg, FunctionArgExpr, Ident, Merge, ObjectName, Query, Select,
    SetExpr, Statement, TableAlias, TableFactor, TableFunctionArgs, TableObject, TableWithJoins,
    Update, Value, Visitor,
};

use super::facts::Facts;
use super::functions::{self, Volatility};
use super::names;
use super::{Dialect, TableRef};

/// What a table factor names.
enum Relation<'a> {
    Table(Cow<'a, ObjectName>),
    Function,
    /// A misread modifier keyword whose table cannot be recovered.
    Unresolved,
}

/// Identity of an AST node during one walk (the tree does not move while walked).
fn addr<T>(node: &T) -> usize {
    node as *const T as usize
}

pub(super) struct Walker {
    dialect: Dialect,
    pub facts: Facts,
    /// CTE names visible in each enclosing query, innermost last.
    scopes: Vec<Vec<String>>,
    /// CTE bodies not yet entered → the CTE names visible inside each.
    cte_bodies: HashMap<usize, Vec<String>>,
    /// Table factors that are the target of an UPDATE, DELETE or MERGE.
    targets: HashSet<usize>,
}

impl Walker {
    pub fn new(dialect: Dialect) -> Self {
        Self {
            dialect,
            facts: Facts::default(),
            scopes: Vec::new(),
            cte_bodies: HashMap::new(),
            targets: HashSet::new(),
        }
    }

    fn is_cte(&self, name: &str) -> bool {
        self.scopes
            .last()
            .is_some_and(|names| names.iter().any(|n| n == name))
    }

    fn on_query(&mut self, query: &Query) {
        let base = match self.cte_bodies.remove(&addr(query)) {
            Some(visible) => visible,
            None => self.scopes.last().cloned().unwrap_or_default(),
        };
        let mut visible = base.clone();
        if let Some(with) = &query.with {
            let own: Vec<String> = with
                .cte_tables
                .iter()
                .map(|cte| names::fold_ident(self.dialect, &cte.alias.name))
                .collect();
            for (i, cte) in with.cte_tables.iter().enumerate() {
                // Without RECURSIVE a CTE sees only the CTEs before it.
                let upto = if with.recursive { own.len() } else { i };
                let mut inner = base.clone();
                inner.extend(own.iter().take(upto).cloned());
                self.cte_bodies.insert(addr(cte.query.as_ref()), inner);
            }
            visible.extend(own);
        }
        if !query.locks.is_empty() {
            self.facts.locking = true;
        }
        self.scopes.push(visible);
        self.on_set_tables(&query.body);
    }

    /// `TABLE name` bodies carry no `TableFactor`; find them through set operations.
    fn on_set_tables(&mut self, body: &SetExpr) {
        let mut pending = vec![body];
        while let Some(node) = pending.pop() {
            match node {
                SetExpr::SetOperation { left, right, .. } => {
                    pending.push(left);
                    pending.push(right);
                }
                SetExpr::Table(table) => {
                    let Some(name) = table.table_name.as_deref() else {
                        continue;
                    };
                    let name = match self.dialect {
                        Dialect::Postgres => name.to_ascii_lowercase(),
                        Dialect::MySql | Dialect::MariaDb | Dialect::MsSql => name.to_owned(),
                    };
                    if table.schema_name.is_none() && self.is_cte(&name) {
                        continue;
                    }
                    let schema = table.schema_name.as_ref().map(|s| match self.dialect {
                        Dialect::Postgres => s.to_ascii_lowercase(),
                        Dialect::MySql | Dialect::MariaDb | Dialect::MsSql => s.clone(),
                    });
                    self.facts.read(self.dialect, TableRef { schema, name });
                }
                _ => {}
            }
        }
    }

    fn on_select(&mut self, select: &Select) {
        let Some(into) = &select.into else { return };
        self.facts.select_into = true;
        if matches!(self.dialect, Dialect::Postgres | Dialect::MsSql) {
            self.facts.creates_table = true;
            self.facts.writes_unknown = true;
            match into.targets.first() {
                Some(Expr::Identifier(ident)) => self.write_idents(std::slice::from_ref(ident)),
                Some(Expr::CompoundIdentifier(idents)) => self.write_idents(idents),
                _ => {}
            }
        }
    }

    fn write_idents(&mut self, idents: &[Ident]) {
        let name = ObjectName::from(idents.to_vec());
        self.facts.write_name(self.dialect, &name);
    }

    fn on_table_factor(&mut self, factor: &TableFactor) {
        super::tsql::table_facts(self.dialect, &mut self.facts, factor);
        match factor {
            TableFactor::Table {
                name, alias, args, ..
            } => match self.resolve(factor, name, alias.as_ref(), args.as_ref()) {
                Relation::Table(name) => self.on_relation(factor, &name),
                Relation::Function => self.on_function_name(name),
                Relation::Unresolved => {
                    self.facts.unresolved = true;
                    self.facts.writes_unknown |= self.targets.contains(&addr(factor));
                }
            },
            TableFactor::Function { name, .. } => self.on_function_name(name),
            _ => {}
        }
    }

    /// What a `TableFactor::Table` names, undoing sqlparser's misreading of
    /// modifier keywords (see [`names::is_misread_modifier`]).
    fn resolve<'a>(
        &self,
        factor: &TableFactor,
        name: &'a ObjectName,
        alias: Option<&TableAlias>,
        args: Option<&TableFunctionArgs>,
    ) -> Relation<'a> {
        let target = self.targets.contains(&addr(factor));
        if !names::is_misread_modifier(self.dialect, name, target) {
            return match args {
                Some(_) => Relation::Function,
                None => Relation::Table(Cow::Borrowed(name)),
            };
        }
        let idents = match (alias, args.map(|a| a.args.as_slice())) {
            (None, None) => return Relation::Table(Cow::Borrowed(name)),
            (Some(alias), None) => vec![alias.name.clone()],
            (None, Some([FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Identifier(i)))])) => {
                vec![i.clone()]
            }
            (
                None,
                Some([FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::CompoundIdentifier(ids)))]),
            ) => ids.clone(),
            _ => return Relation::Unresolved,
        };
        Relation::Table(Cow::Owned(ObjectName::from(idents)))
    }

    /// A relation: written if the factor is a write target, else read unless it
    /// names a CTE in scope or MySQL's DUAL.
    fn on_relation(&mut self, factor: &TableFactor, name: &ObjectName) {
        let Some(table) = names::table_ref(self.dialect, name) else {
            return;
        };
        if self.targets.contains(&addr(factor)) {
            self.facts.writes.insert(table);
        } else if (name.0.len() == 1 && self.is_cte(&table.name))
            || names::is_dual(self.dialect, &table)
        {
            // Not a relation.
        } else {
            self.facts.read(self.dialect, table);
        }
    }

    fn on_function_name(&mut self, name: &ObjectName) {
        let Some((schema, function)) = names::function_name(self.dialect, name) else {
            return;
        };
        match functions::volatility(self.dialect, schema.as_deref(), &function) {
            Volatility::Immutable => {}
            Volatility::NonImmutable => self.facts.non_immutable = true,
            Volatility::Unknown => {
                let qualified = match schema {
                    Some(schema) => format!("{schema}.{function}"),
                    None => function,
                };
                self.facts.unknown_functions.insert(qualified);
            }
        }
    }

    fn on_expr(&mut self, expr: &Expr) {
        match expr {
            Expr::Function(function) => self.on_function_name(&function.name),
            Expr::Identifier(ident) => self.on_identifier(ident),
            Expr::CompoundIdentifier(idents) => {
                if let Some(first) = idents.first() {
                    self.on_session_variable(first);
                }
            }
            Expr::Cast { expr, .. } => {
                if let Expr::Value(value) = expr.as_ref() {
                    self.on_literal(&value.value);
                }
            }
            Expr::TypedString(typed) => self.on_literal(&typed.value.value),
            _ => {}
        }
    }

    fn on_literal(&mut self, value: &Value) {
        if let Value::SingleQuotedString(text) = value
            && functions::is_volatile_literal(self.dialect, text)
        {
            self.facts.non_immutable = true;
        }
    }

    fn on_identifier(&mut self, ident: &Ident) {
        if ident.quote_style.is_some() {
            return;
        }
        self.on_session_variable(ident);
        if functions::is_value_keyword(self.dialect, &ident.value.to_ascii_lowercase()) {
            self.facts.non_immutable = true;
        }
    }

    /// MySQL `@user_var` and `@@system_var` arrive as identifiers.
    fn on_session_variable(&mut self, ident: &Ident) {
        if self.dialect != Dialect::Postgres
            && ident.quote_style.is_none()
            && ident.value.starts_with('@')
        {
            self.facts.session_var = true;
        }
    }

    fn on_statement(&mut self, statement: &Statement) {
        match statement {
            Statement::Insert(insert) => {
                self.facts.dml = true;
                match &insert.table {
                    TableObject::TableName(name) => self.facts.write_name(self.dialect, name),
                    _ => self.facts.writes_unknown = true,
                }
            }
            Statement::Update(update) => self.on_update(update),
            Statement::Delete(delete) => self.on_delete(delete),
            Statement::Merge(merge) => self.on_merge(merge),
            _ => {}
        }
    }

    fn on_update(&mut self, update: &Update) {
        self.facts.dml = true;
        // MySQL's multi-table UPDATE may write any table it joins: all are targets.
        let mut factors = Vec::new();
        table_factors(&update.table, &mut factors);
        self.targets.extend(factors.into_iter().map(addr));
    }

    fn on_merge(&mut self, merge: &Merge) {
        self.facts.dml = true;
        self.targets.insert(addr(&merge.table));
    }

    fn on_delete(&mut self, delete: &Delete) {
        self.facts.dml = true;
        let (FromTable::WithFromKeyword(from) | FromTable::WithoutKeyword(from)) = &delete.from;
        let mut from_factors = Vec::new();
        for twj in from {
            table_factors(twj, &mut from_factors);
        }
        let mut all = from_factors.clone();
        for twj in delete.using.iter().flatten() {
            table_factors(twj, &mut all);
        }
        // MySQL `DELETE t1, a2 FROM t1 JOIN t2 AS a2 …`: names or aliases of targets.
        let mut named = false;
        for name in &delete.tables {
            let matched: Vec<usize> = all
                .iter()
                .filter(|factor| self.names_factor(name, factor))
                .map(|factor| addr(*factor))
                .collect();
            if matched.is_empty() {
                if names::is_delete_modifier(self.dialect, name) {
                    continue;
                }
                // Not a table of the statement: something sqlparser misread.
                self.facts.write_name(self.dialect, name);
                self.facts.writes_unknown = true;
            }
            named = true;
            self.targets.extend(matched);
        }
        if !named {
            // `DELETE FROM t [USING …]`: the FROM list holds the targets.
            self.targets.extend(from_factors.into_iter().map(addr));
        }
    }

    fn names_factor(&self, name: &ObjectName, factor: &TableFactor) -> bool {
        let TableFactor::Table {
            name: table, alias, ..
        } = factor
        else {
            return false;
        };
        let wanted = names::table_ref(self.dialect, name);
        let by_alias = alias.as_ref().is_some_and(|alias| {
            name.0.len() == 1
                && wanted.as_ref().map(|w| &w.name)
                    == Some(&names::fold_ident(self.dialect, &alias.name))
        });
        by_alias || wanted == names::table_ref(self.dialect, table)
    }
}

/// Plain tables of a FROM item: its relation and joins, through parenthesised joins.
fn table_factors<'a>(twj: &'a TableWithJoins, out: &mut Vec<&'a TableFactor>) {
    let relations = std::iter::once(&twj.relation).chain(twj.joins.iter().map(|j| &j.relation));
    for factor in relations {
        match factor {
            TableFactor::Table { args: None, .. } => out.push(factor),
            TableFactor::NestedJoin {
                table_with_joins, ..
            } => table_factors(table_with_joins, out),
            _ => {}
        }
    }
}

impl Visitor for Walker {
    type Break = ();

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        self.on_query(query);
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _query: &Query) -> ControlFlow<()> {
        self.scopes.pop();
        ControlFlow::Continue(())
    }

    fn pre_visit_select(&mut self, select: &Select) -> ControlFlow<()> {
        self.on_select(select);
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
        self.on_table_factor(factor);
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
        self.on_expr(expr);
        ControlFlow::Continue(())
    }

    fn pre_visit_statement(&mut self, statement: &Statement) -> ControlFlow<()> {
        self.on_statement(statement);
        ControlFlow::Continue(())
    }
}
