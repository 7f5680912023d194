//! `[[rules]]`: every key from the file and the environment, and every kind
//! of rule error, one case each.

use std::time::Duration;

use super::errors::{check, check_env, check_one};
use super::{errors, ok};
use crate::config::{RuleAction, RuleDef, TxnPolicy};

const SHOP: &str = "[[caches]]\nid = \"shop\"\nprotocol = \"postgres\"\norigin = \"h:1\"\n";

fn rule(action: RuleAction) -> RuleDef {
    RuleDef {
        template: None,
        pattern: None,
        table: None,
        cache: None,
        action,
        transactions: None,
    }
}

#[test]
fn rules_from_file() {
    let text = format!(
        r#"
        DEMO
        {SHOP}
        [[rules]]
        template = "9f86d081884c7d65"
        ttl = "10s"
        [[rules]]
        pattern = "SELECT * FROM orders WHERE id = ?"
        table = "public.orders"
        cache = "shop"
        action = "never"
        [[rules]]
        table = "prices"
        action = "always"
        [[rules]]
        cache = "demo"
        action = "Always"
        ttl = "1.5m"
        [[rules]]
        pattern = "*"
        action = "CACHE"
        ttl = "250ms"
    "#
    );
    let config = ok(&text, &[]);
    let expected = [
        RuleDef {
            template: Some(0x9f86_d081_884c_7d65),
            ..rule(RuleAction::Ttl(Duration::from_secs(10)))
        },
        RuleDef {
            pattern: Some("SELECT * FROM orders WHERE id = ?".to_owned()),
            table: Some("public.orders".to_owned()),
            cache: Some("shop".to_owned()),
            ..rule(RuleAction::Never)
        },
        RuleDef {
            table: Some("prices".to_owned()),
            ..rule(RuleAction::Always(None))
        },
        RuleDef {
            cache: Some("demo".to_owned()),
            ..rule(RuleAction::Always(Some(Duration::from_secs(90))))
        },
        RuleDef {
            pattern: Some("*".to_owned()),
            ..rule(RuleAction::Ttl(Duration::from_millis(250)))
        },
    ];
    assert_eq!(config.rules, expected);
    for r in &config.rules {
        assert_eq!(r.validate_matchers(), Ok(()), "{r:?}");
    }
    assert_eq!(ok("rules = []\nDEMO", &[]).rules, Vec::new());
}

/// A rule may set the cache's `transactions` policy for what it matches: alone (it
/// then decides nothing else, and prints without an action) or with an action.
#[test]
fn rules_that_set_the_transactions_policy() {
    let text = "DEMO\n[[rules]]\ntable = \"prices\"\ntransactions = \"never\"\n\
                [[rules]]\npattern = \"*\"\naction = \"never\"\ntransactions = \"ALWAYS\"";
    let config = ok(text, &[]);
    let expected = [
        RuleDef {
            table: Some("prices".to_owned()),
            transactions: Some(TxnPolicy::Never),
            ..rule(RuleAction::Learn)
        },
        RuleDef {
            pattern: Some("*".to_owned()),
            transactions: Some(TxnPolicy::Always),
            ..rule(RuleAction::Never)
        },
    ];
    assert_eq!(config.rules, expected);
    assert_eq!(ok(&config.to_toml_string(), &[]).rules, expected);
    check(&[
        (
            "DEMO\n[[rules]]\ntable = \"t\"\ntransactions = \"sometimes\"",
            "rules[0].transactions: invalid transactions policy \"sometimes\"",
        ),
        (
            "DEMO\n[[rules]]\ntable = \"t\"\naction = \"learn\"\ntransactions = \"never\"",
            "rules[0].action: unknown action \"learn\"",
        ),
        (
            "DEMO\n[[rules]]\ntable = \"t\"",
            "rules[0].ttl: action \"cache\" requires a ttl",
        ),
    ]);
}

#[test]
fn rules_from_env() {
    let vars = [
        ("WIRECACHE_RULES_0_ACTION", "always"),
        ("WIRECACHE_RULES_1_TEMPLATE", "00000000000000ff"),
        ("WIRECACHE_RULES_1_TTL", "10s"),
        ("WIRECACHE_RULES_2_PATTERN", "select ?"),
        ("WIRECACHE_RULES_2_TABLE", "t"),
        ("WIRECACHE_RULES_2_CACHE", "demo"),
        ("WIRECACHE_RULES_2_ACTION", "never"),
    ];
    // Rule 0 comes from the file; the variables change its action and add rules 1 and 2.
    let text = "DEMO\n[[rules]]\ntable = \"orders\"\nttl = \"5s\"\n";
    let config = ok(text, &vars);
    let expected = [
        RuleDef {
            table: Some("orders".to_owned()),
            ..rule(RuleAction::Always(Some(Duration::from_secs(5))))
        },
        RuleDef {
            template: Some(0xff),
            ..rule(RuleAction::Ttl(Duration::from_secs(10)))
        },
        RuleDef {
            pattern: Some("select ?".to_owned()),
            table: Some("t".to_owned()),
            cache: Some("demo".to_owned()),
            ..rule(RuleAction::Never)
        },
    ];
    assert_eq!(config.rules, expected);

    // Without a file rule, the variables start at index 0.
    let alone = [
        ("WIRECACHE_RULES_0_TEMPLATE", "00000000000000ff"),
        ("WIRECACHE_RULES_0_TTL", "10s"),
    ];
    assert_eq!(ok("DEMO", &alone).rules, expected[1..2]);

    // (variable, value, a line of the effective config it must produce)
    let cases = [
        (
            "WIRECACHE_RULES_0_TEMPLATE",
            "ABCDEF0123456789",
            "template = \"abcdef0123456789\"",
        ),
        (
            "WIRECACHE_RULES_0_PATTERN",
            "select *",
            "pattern = \"select *\"",
        ),
        ("WIRECACHE_RULES_0_TABLE", "orders", "table = \"orders\""),
        ("WIRECACHE_RULES_0_CACHE", "demo", "cache = \"demo\""),
        ("WIRECACHE_RULES_0_ACTION", "always", "action = \"always\""),
        ("WIRECACHE_RULES_0_TTL", "2m", "ttl = \"2m\""),
    ];
    for (var, value, line) in cases {
        let printed = ok(text, &[(var, value)]).to_toml_string();
        let found = printed.lines().any(|l| l == line);
        assert!(found, "{var}={value}: no {line:?} in\n{printed}");
    }
}

#[test]
fn rule_problems() {
    let both = "[[rules]]\ntable = \"t\"\naction = \"never\"\nttl = \"5s\"\nDEMO";
    check(&[
        (
            "DEMO\n[[rules]]\nttl = \"10s\"",
            "rules[0]: no matcher (set at least one of template, pattern, table or cache)",
        ),
        (
            "DEMO\n[[rules]]\ntemplate = \"9f86d08\"\nttl = \"1s\"",
            "rules[0].template: invalid template ID \"9f86d08\": expected 16 hex digits",
        ),
        (
            "DEMO\n[[rules]]\ntemplate = \"9f86d081884c7d6x\"\nttl = \"1s\"",
            "rules[0].template: invalid template ID \"9f86d081884c7d6x\"",
        ),
        (
            "DEMO\n[[rules]]\ntemplate = 12\nttl = \"1s\"",
            "rules[0].template: expected a template ID string of 16 hex digits, found integer",
        ),
        (
            "DEMO\n[[rules]]\npattern = \"\"\nttl = \"1s\"",
            "rules[0].pattern: invalid pattern \"\": empty",
        ),
        (
            "DEMO\n[[rules]]\ntable = \" \"\nttl = \"1s\"",
            "rules[0].table: invalid table \" \": empty",
        ),
        (
            "DEMO\n[[rules]]\ncache = \"nope\"\nttl = \"1s\"",
            "rules[0].cache: no cache has ID \"nope\"",
        ),
        (
            "DEMO\n[[rules]]\ncache = \"a b\"\nttl = \"1s\"",
            "rules[0].cache: invalid cache ID \"a b\"",
        ),
        (
            "DEMO\n[[rules]]\ntable = \"t\"\naction = \"sometimes\"",
            "rules[0].action: unknown action \"sometimes\" (expected cache, never or always)",
        ),
        (
            "DEMO\n[[rules]]\ntable = \"t\"\naction = 1",
            "rules[0].action: expected \"cache\", \"never\" or \"always\", found integer",
        ),
        (
            "DEMO\n[[rules]]\ntable = \"t\"",
            "rules[0].ttl: action \"cache\" requires a ttl",
        ),
        (
            "DEMO\n[[rules]]\ntable = \"t\"\naction = \"cache\"",
            "rules[0].ttl: action \"cache\" requires a ttl",
        ),
        (both, "rules[0].ttl: action \"never\" takes no ttl"),
        (
            "DEMO\n[[rules]]\ntable = \"t\"\nttl = \"0s\"",
            "rules[0].ttl: invalid duration \"0s\": must be greater than zero",
        ),
        (
            "DEMO\n[[rules]]\ntable = \"t\"\naction = \"always\"\nttl = \"0s\"",
            "rules[0].ttl: invalid duration \"0s\": must be greater than zero",
        ),
        (
            "DEMO\n[[rules]]\ntable = \"t\"\nttl = \"soon\"",
            "rules[0].ttl: invalid duration \"soon\"",
        ),
        (
            "DEMO\n[[rules]]\ntable = \"t\"\naction = \"never\"\ntables = \"u\"",
            "rules[0].tables: unknown key (expected one of: template, pattern, table, cache, action, ttl, transactions)",
        ),
        (
            "rules = 3\nDEMO",
            "rules: expected an array of tables ([[rules]]), found integer",
        ),
        (
            "rules = [1]\nDEMO",
            "rules[0]: expected a table, found integer",
        ),
        (
            "DEMO\n[[rules]]\ntable = \"a\"\naction = \"never\"\n[[rules]]\naction = \"never\"",
            "rules[1]: no matcher",
        ),
    ]);
}

#[test]
fn rule_cache_ids_hidden_by_other_errors() {
    // A rule's cache is not called unknown when the cache it may name was
    // itself reported: only that one error.
    let rule = "\n[[rules]]\ncache = \"x\"\naction = \"never\"\n";
    let bad_id = "[[caches]]\nid = \"x y\"\nprotocol = \"postgres\"\norigin = \"h:1\"";
    let no_id = "[[caches]]\nprotocol = \"postgres\"\norigin = \"h:1\"";
    check(&[
        (&format!("{bad_id}{rule}"), "caches[0].id: invalid cache ID"),
        (&format!("{no_id}{rule}"), "caches[0].id: missing key"),
        (&format!("caches = 1{rule}"), "caches: expected an array"),
        (
            &format!("caches = [1]{rule}"),
            "caches[0]: expected a table",
        ),
        // The cache is configured but has another problem: the rule is fine.
        (
            &format!("[[caches]]\nid = \"x\"\nprotocol = \"pg\"\norigin = \"h:1\"{rule}"),
            "caches[0].protocol: unknown protocol",
        ),
    ]);
}

#[test]
fn rule_environment_problems() {
    check_env(&[
        (
            "WIRECACHE_RULES_1_TABLE",
            "t",
            "WIRECACHE_RULES_1_TABLE: rule index 1 leaves a gap (the next new rule is index 0)",
        ),
        (
            "WIRECACHE_RULES_0_NAME",
            "x",
            "WIRECACHE_RULES_0_NAME: unknown environment variable",
        ),
        ("WIRECACHE_RULES_0_TTL", "10s", "rules[0]: no matcher"),
        (
            "WIRECACHE_RULES_0_TABLE",
            "t",
            "rules[0].ttl: action \"cache\" requires a ttl",
        ),
    ]);
    let file_rule = "DEMO\n[[rules]]\ntable = \"t\"\nttl = \"1s\"\n";
    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[("WIRECACHE_RULES_0_TEMPLATE", "xyz")],
            "rules[0].template (from WIRECACHE_RULES_0_TEMPLATE): invalid template ID \"xyz\"",
        ),
        (
            &[("WIRECACHE_RULES_0_CACHE", "other")],
            "rules[0].cache (from WIRECACHE_RULES_0_CACHE): no cache has ID \"other\"",
        ),
        (
            &[("WIRECACHE_RULES_0_ACTION", "never")],
            "rules[0].ttl: action \"never\" takes no ttl",
        ),
        (
            &[("WIRECACHE_RULES_0_ACTION", "maybe")],
            "rules[0].action (from WIRECACHE_RULES_0_ACTION): unknown action \"maybe\"",
        ),
        (
            &[("WIRECACHE_RULES_0_TTL", "0s")],
            "rules[0].ttl (from WIRECACHE_RULES_0_TTL): invalid duration \"0s\"",
        ),
        (
            &[("WIRECACHE_RULES_0_PATTERN", "")],
            "rules[0].pattern (from WIRECACHE_RULES_0_PATTERN): invalid pattern \"\": empty",
        ),
        (
            &[
                ("WIRECACHE_RULES_2_TABLE", "u"),
                ("WIRECACHE_RULES_2_TTL", "1s"),
            ],
            "rule index 2 leaves a gap (the next new rule is index 1)",
        ),
    ];
    for (vars, expected) in cases {
        let errs = errors(file_rule, vars);
        // The gap case reports each of its two variables.
        let want = vars.len();
        assert_eq!(errs.len(), want, "{vars:?}: {errs:#?}");
        assert!(
            errs.iter().all(|e| e.contains(expected)),
            "{vars:?}: {errs:#?} lacks {expected:?}"
        );
    }
    check_one(
        file_rule,
        &[("WIRECACHE_RULES_1_CACHE", "demo")],
        "rules[1].ttl: action",
    );
}

#[test]
fn rule_mistakes_reported_together() {
    let text = r#"
        DEMO
        [[rules]]
        template = "short"
        pattern = ""
        cache = "missing"
        action = "never"
        ttl = "5s"
        [[rules]]
        action = "sometimes"
        colour = "red"
    "#;
    let errs = errors(text, &[]);
    let expected = [
        "rules[0].template: invalid template ID \"short\"",
        "rules[0].pattern: invalid pattern \"\": empty",
        "rules[0].cache: no cache has ID \"missing\"",
        "rules[0].ttl: action \"never\" takes no ttl",
        "rules[1].colour: unknown key",
        "rules[1]: no matcher",
        "rules[1].action: unknown action \"sometimes\"",
    ];
    assert_eq!(errs.len(), expected.len(), "{errs:#?}");
    for (err, want) in errs.iter().zip(expected) {
        assert!(
            err.starts_with(want),
            "{err:?} does not start with {want:?}"
        );
    }
}
