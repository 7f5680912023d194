//! A SQL Server view's query, from its definition as `sys.sql_modules` keeps it
//! (`CREATE VIEW dbo.v (cols) WITH SCHEMABINDING AS SELECT …`): the text after the
//! `AS` that ends the header, found with sqlparser's tokenizer, so the catalog round
//! can classify the query (its functions decide whether the view may be cached:
//! `sys.sql_expression_dependencies` does not list built-ins such as `GETDATE()`).

use sqlparser::dialect::MsSqlDialect;
use sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer};

use super::tsql_output::Offsets;

/// The query of a `CREATE [OR ALTER] VIEW` definition; `None` for anything else.
pub fn view_query(definition: &str) -> Option<&str> {
    let tokens = Tokenizer::new(&MsSqlDialect {}, definition)
        .with_unescape(false)
        .tokenize_with_location()
        .ok()?;
    let code: Vec<&TokenWithSpan> = tokens
        .iter()
        .filter(|t| !matches!(t.token, Token::Whitespace(_)))
        .collect();
    let word = |i: usize, k: &str| {
        matches!(code.get(i).map(|t| &t.token),
            Some(Token::Word(w)) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(k))
    };
    if !word(0, "create") {
        return None;
    }
    let mut i = 1;
    if word(1, "or") && word(2, "alter") {
        i = 3;
    }
    if !word(i, "view") {
        return None;
    }
    i += 1;
    // The name: words joined by periods.
    loop {
        matches!(code.get(i).map(|t| &t.token), Some(Token::Word(_))).then_some(())?;
        i += 1;
        if !matches!(code.get(i).map(|t| &t.token), Some(Token::Period)) {
            break;
        }
        i += 1;
    }
    // Its column list, then its attributes, up to `AS`.
    let mut depth = 0usize;
    while let Some(t) = code.get(i) {
        match &t.token {
            Token::LParen => depth += 1,
            Token::RParen => depth = depth.checked_sub(1)?,
            Token::Word(_) if depth == 0 && word(i, "as") => break,
            _ => {}
        }
        i += 1;
    }
    let first = code.get(i + 1)?;
    let from = Offsets::of(definition).at(first.span.start)?;
    definition.get(from..)
}

#[cfg(test)]
mod tests {
    use super::view_query;

    #[test]
    fn the_query_after_the_header() {
        let cases = [
            (
                "CREATE VIEW v AS SELECT id FROM t",
                Some("SELECT id FROM t"),
            ),
            (
                "create or alter view [dbo].[v as] (a, [as]) with schemabinding, view_metadata\n as\n  SELECT a FROM dbo.t;",
                Some("SELECT a FROM dbo.t;"),
            ),
            (
                "/* AS */ CREATE VIEW dbo.v -- AS\n AS SELECT 'AS' AS x",
                Some("SELECT 'AS' AS x"),
            ),
            ("CREATE TABLE v AS SELECT 1", None),
            ("CREATE VIEW v", None),
            ("CREATE VIEW v AS", None),
            ("", None),
        ];
        for (def, want) in cases {
            assert_eq!(view_query(def), want, "{def}");
        }
    }
}
