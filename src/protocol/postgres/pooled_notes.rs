//! How transaction pooling reads a statement sent to the origin (see
//! `pooled_state`): whether it changes state that must follow the client (`SET`,
//! `RESET`), state that cannot move (a pin), or nothing. Every statement of a
//! transaction-pooled session is read here, so the words are compared where they
//! lie in the text, case ignored, never copied (an earlier version lower-cased each
//! word into a `String`: 5–7 thousand instructions per statement).

use crate::classify::lower_contains;
use crate::pool::metrics::PinReason;

/// What a statement sent to the origin means for transaction pooling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Note {
    /// Nothing that outlives its transaction.
    Nothing,
    /// A lone `SET`/`RESET` of a setting: replayed on the next connections once its
    /// transaction commits.
    Track,
    /// `RESET ALL`: what was tracked is forgotten.
    ResetAll,
    /// State that cannot move: the session keeps its connection.
    Pin(PinReason),
}

/// The words of `sql`: runs of letters, digits and `_`.
fn words(sql: &str) -> impl Iterator<Item = &str> {
    sql.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
}

fn is(w: &str, word: &str) -> bool {
    w.eq_ignore_ascii_case(word)
}

fn is_temp(w: &str) -> bool {
    is(w, "temp") || is(w, "temporary")
}

fn is_advisory_lock(w: &str) -> bool {
    [
        "pg_advisory_lock",
        "pg_advisory_lock_shared",
        "pg_try_advisory_lock",
        "pg_try_advisory_lock_shared",
    ]
    .iter()
    .any(|a| is(w, a))
}

/// What one pass over a statement's words finds anywhere in it.
#[derive(Default)]
struct Found<'a> {
    first: [&'a str; 3],
    advisory_lock: bool,
    set_config: bool,
    into_temp: bool,
    with_hold: bool,
}

impl<'a> Found<'a> {
    fn of(sql: &'a str) -> Self {
        let mut f = Found::default();
        let mut prev = "";
        for (i, w) in words(sql).enumerate() {
            if let Some(slot) = f.first.get_mut(i) {
                *slot = w;
            }
            f.advisory_lock |= is_advisory_lock(w);
            f.set_config |= is(w, "set_config");
            f.into_temp |= is(prev, "into") && is_temp(w);
            f.with_hold |= is(prev, "with") && is(w, "hold");
            prev = w;
        }
        f
    }

    fn at(&self, i: usize, word: &str) -> bool {
        self.first.get(i).is_some_and(|w| is(w, word))
    }
}

/// One statement's note (no `;` inside).
fn note_one(sql: &str) -> Note {
    let f = Found::of(sql);
    if f.advisory_lock {
        return Note::Pin(PinReason::AdvisoryLock);
    }
    if f.set_config {
        return Note::Pin(PinReason::UntrackedState);
    }
    if f.into_temp {
        return Note::Pin(PinReason::TempTable);
    }
    let first = f.first.first().copied().unwrap_or_default();
    let keyword = ["set", "reset", "listen", "declare", "prepare", "create"]
        .into_iter()
        .find(|k| is(first, k));
    match keyword {
        Some("set") if f.at(1, "local") || f.at(1, "transaction") || f.at(1, "constraints") => {
            Note::Nothing
        }
        Some("set" | "reset") if f.at(1, "session") && f.at(2, "authorization") => {
            Note::Pin(PinReason::UntrackedState)
        }
        Some("set") => Note::Track,
        Some("reset") if f.at(1, "all") => Note::ResetAll,
        Some("reset") => Note::Track,
        Some("listen") => Note::Pin(PinReason::Listen),
        Some("declare") if f.with_hold => Note::Pin(PinReason::HoldCursor),
        Some("prepare") if !f.at(1, "transaction") => Note::Pin(PinReason::SqlPrepare),
        Some("create") if f.first.get(1).is_some_and(|w| is_temp(w)) => {
            Note::Pin(PinReason::TempTable)
        }
        Some("create")
            if (f.at(1, "local") || f.at(1, "global"))
                && f.first.get(2).is_some_and(|w| is_temp(w)) =>
        {
            Note::Pin(PinReason::TempTable)
        }
        _ => Note::Nothing,
    }
}

/// The statements of `sql` split at `;` outside quotes; `None` if it holds
/// dollar quoting (not split here).
fn split(sql: &str) -> Option<Vec<&str>> {
    let mut pieces = Vec::new();
    let (mut from, mut quote) = (0, None::<char>);
    let mut chars = sql.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let param = chars.peek().is_some_and(|(_, n)| n.is_ascii_digit());
        match (quote, c) {
            // `$1` is a parameter; `$$` or `$tag$` opens dollar quoting.
            (None, '$') if !param => return None,
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), _) if c == q => quote = None,
            (None, ';') => {
                pieces.push(sql.get(from..i).unwrap_or_default());
                from = i + 1;
            }
            _ => {}
        }
    }
    pieces.push(sql.get(from..).unwrap_or_default());
    Some(
        pieces
            .into_iter()
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .collect(),
    )
}

/// True when no statement of `sql` can note anything, found without reading its
/// words: it holds none of the words a note looks for anywhere in a statement
/// (`advisory`, `set_config`, `temp`, ASCII case ignored), no dollar quoting, and no
/// statement starts with a word a note reads first (`SET`, `RESET`, `LISTEN`,
/// `DECLARE`, `PREPARE`, `CREATE`; every `;` is taken to start one, quoted or not).
/// What most statements are (`SELECT`, `UPDATE`, `BEGIN`): a false `false` costs
/// only the full reading.
pub fn quiet(sql: &str) -> bool {
    let b = sql.as_bytes();
    let dollar_quote =
        memchr::memchr_iter(b'$', b).any(|i| !b.get(i + 1).is_some_and(u8::is_ascii_digit));
    let names = |w: &str| lower_contains(sql, w);
    if dollar_quote || names("advisory") || names("set_config") || names("temp") {
        return false;
    }
    let read_first = ["set", "reset", "listen", "declare", "prepare", "create"];
    !b.split(|&c| c == b';').any(|statement| {
        // Its first word: the first run of ASCII letters, digits and `_` (anything
        // else, non-ASCII included, taken as a separator: a superset of the words
        // `words` finds first).
        let word = statement
            .split(|c| !(c.is_ascii_alphanumeric() || *c == b'_'))
            .find(|w| !w.is_empty());
        word.is_some_and(|w| {
            read_first
                .iter()
                .any(|k| w.eq_ignore_ascii_case(k.as_bytes()))
        })
    })
}

/// Each statement of `sql` (one query string) with its note. A setting inside
/// dollar quoting is not followed: it pins.
pub fn notes(sql: &str) -> Vec<(Note, &str)> {
    match split(sql) {
        Some(pieces) => pieces.into_iter().map(|p| (note_one(p), p)).collect(),
        None => {
            let sets = words(sql).any(|w| is(w, "set") || is(w, "reset"));
            match note_one(sql) {
                Note::Nothing if !sets => vec![(Note::Nothing, sql)],
                Note::Track | Note::ResetAll | Note::Nothing => {
                    vec![(Note::Pin(PinReason::UntrackedState), sql)]
                }
                n => vec![(n, sql)],
            }
        }
    }
}

/// The strongest note of `sql`: a pin, else a setting, else nothing.
#[cfg(test)]
pub fn note(sql: &str) -> Note {
    let all = notes(sql);
    let pick = |f: fn(&Note) -> bool| all.iter().map(|(n, _)| *n).find(f);
    pick(|n| matches!(n, Note::Pin(_)))
        .or_else(|| pick(|n| *n == Note::ResetAll))
        .or_else(|| pick(|n| *n == Note::Track))
        .unwrap_or(Note::Nothing)
}

#[cfg(test)]
#[path = "pooled_notes_tests.rs"]
mod tests;
