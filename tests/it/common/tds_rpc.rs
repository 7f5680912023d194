//! The test TDS origin's RPC requests (written apart from wirecache's decoder, so the
//! two do not share mistakes): `sp_executesql`, `sp_prepare`, `sp_execute`,
//! `sp_prepexec` and `sp_unprepare`, by ID or by name, executed on the private
//! PostgreSQL with the typed parameters bound as real parameters (`@P1` becomes `$1`;
//! a type PostgreSQL has no binding for here is sent as text and cast). Answers as
//! SQL Server does: the statement's result and DONEINPROC, then RETURNSTATUS, a
//! RETURNVALUE for an OUTPUT handle, and DONEPROC. Any other procedure by name is
//! PostgreSQL's procedure of that name, called with the arguments in order. Handles
//! are per connection and start at a per-connection offset, so two connections'
//! numbers differ.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::{BufMut, BytesMut};
use tokio_postgres::types::{ToSql, Type};

use super::tds_origin_txn::Failed;
use super::tds_rpc_types::{Cur, R, Typed, typed};
use super::tds_sql::{Verb, translate, verb};
use super::tds_wire as wire;

/// A connection's prepared statements: handle → (statement, declarations).
pub struct RpcState {
    handles: HashMap<i32, (String, String)>,
    next: i32,
}

static OFFSET: AtomicU64 = AtomicU64::new(1);

impl Default for RpcState {
    fn default() -> Self {
        let base = OFFSET.fetch_add(1, Ordering::SeqCst) as i32;
        RpcState {
            handles: HashMap::new(),
            next: base * 1000 + 1,
        }
    }
}

/// A parameter as sent: its name, whether OUTPUT, and its value.
#[derive(Debug, Clone)]
struct Arg {
    name: String,
    output: bool,
    value: Typed,
}

/// The procedure (by ID, or its name lowered) and the arguments of an RPC payload.
fn parse(payload: &[u8], modern: bool) -> R<(String, Vec<Arg>)> {
    let mut c = Cur(payload);
    if modern {
        let total = c.u32()? as usize;
        c.bytes(total.checked_sub(4).ok_or("bad ALL_HEADERS")?)?;
    }
    let n = c.u16()?;
    let proc = if n == 0xFFFF {
        match c.u16()? {
            10 => "sp_executesql".to_string(),
            11 => "sp_prepare".to_string(),
            12 => "sp_execute".to_string(),
            13 => "sp_prepexec".to_string(),
            15 => "sp_unprepare".to_string(),
            id => format!("procedure #{id}"),
        }
    } else {
        wire::from_utf16(c.bytes(n as usize * 2)?).to_lowercase()
    };
    c.u16()?; // option flags
    let mut args = Vec::new();
    while !c.0.is_empty() {
        let n = c.u8()? as usize;
        let name = wire::from_utf16(c.bytes(n * 2)?);
        let output = c.u8()? & 1 != 0;
        let value = typed(&mut c)?;
        args.push(Arg {
            name,
            output,
            value,
        });
    }
    Ok((proc, args))
}

/// Runs one RPC request: its answer's tokens, or why it failed (the caller answers
/// the error, and undoes what SQL Server's would, `tds_origin_txn`).
pub async fn rpc(
    state: &mut RpcState,
    pg: &tokio_postgres::Client,
    modern: bool,
    payload: &[u8],
    counters: [&AtomicU64; 2],
) -> Result<BytesMut, Failed> {
    let mut out = BytesMut::new();
    run(state, pg, modern, payload, counters, &mut out).await?;
    Ok(out)
}

async fn run(
    state: &mut RpcState,
    pg: &tokio_postgres::Client,
    modern: bool,
    payload: &[u8],
    counters: [&AtomicU64; 2],
    out: &mut BytesMut,
) -> Result<(), Failed> {
    let (proc, args) = parse(payload, modern)?;
    let text = |i: usize| -> R<String> {
        let a = args
            .get(i)
            .ok_or(format!("{proc}: parameter {i} missing"))?;
        Ok(a.value.text().unwrap_or_default().to_string())
    };
    let handle = |i: usize| -> R<i32> {
        args.get(i)
            .and_then(|a| a.value.int())
            .ok_or(format!("{proc}: no handle"))
    };
    let rest = |i: usize| args.get(i..).unwrap_or_default();
    let mut returned = None;
    match proc.as_str() {
        "sp_executesql" => {
            let decl = if args.len() > 1 {
                text(1)?
            } else {
                String::new()
            };
            execute(pg, modern, &text(0)?, &decl, rest(2), counters, out).await?;
        }
        "sp_prepare" | "sp_prepexec" => {
            let h = state.next;
            state.next += 1;
            state.handles.insert(h, (text(2)?, text(1)?));
            let name = args.first().map(|a| a.name.clone()).unwrap_or_default();
            returned = Some((name, h));
            if proc == "sp_prepexec" {
                execute(pg, modern, &text(2)?, &text(1)?, rest(3), counters, out).await?;
            }
        }
        "sp_execute" => {
            let (stmt, decl) = state
                .handles
                .get(&handle(0)?)
                .cloned()
                .ok_or("sp_execute: no such handle (Msg 8179)")?;
            execute(pg, modern, &stmt, &decl, rest(1), counters, out).await?;
        }
        "sp_unprepare" => {
            state
                .handles
                .remove(&handle(0)?)
                .ok_or("sp_unprepare: no such handle")?;
        }
        other
            if other
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.".contains(c)) =>
        {
            procedure(pg, modern, other, &args, counters[0], out).await?;
        }
        other => return Err(format!("the test origin does not know procedure {other}").into()),
    }
    // RETURNSTATUS 0, the OUTPUT handle, DONEPROC.
    out.put_u8(0x79);
    out.put_i32_le(0);
    if let Some((name, h)) = returned {
        return_value(out, modern, &name, h);
    }
    wire::done(out, modern, 0xFE, 0, 0);
    Ok(())
}

fn return_value(out: &mut BytesMut, modern: bool, name: &str, h: i32) {
    out.put_u8(0xAC);
    out.put_u16_le(0);
    out.put_u8(name.encode_utf16().count() as u8);
    out.put_slice(&wire::utf16(name));
    out.put_u8(0x01);
    wire::user_type(out, modern);
    out.put_u16_le(0x0009);
    out.put_slice(&[0x26, 4, 4]);
    out.put_i32_le(h);
}

/// The names `@params` declares, in order, lowered.
fn declared(decl: &str) -> Vec<String> {
    let mut depth = 0;
    let mut parts = vec![String::new()];
    for ch in decl.chars() {
        match ch {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => parts.push(String::new()),
            _ => {}
        }
        if !(ch == ',' && depth == 0) {
            parts.last_mut().unwrap().push(ch);
        }
    }
    parts
        .iter()
        .filter_map(|p| p.split_whitespace().next())
        .map(str::to_lowercase)
        .collect()
}

/// Another procedure: PostgreSQL's procedure of that name, called with the arguments
/// in order (`CALL name($1, …)`); a DONEINPROC with its row count.
async fn procedure(
    pg: &tokio_postgres::Client,
    modern: bool,
    name: &str,
    args: &[Arg],
    statements: &AtomicU64,
    out: &mut BytesMut,
) -> Result<(), Failed> {
    let slots: Vec<String> = (1..=args.len()).map(|k| format!("${k}")).collect();
    let sql = format!("CALL {name}({})", slots.join(", "));
    let types: Vec<Type> = args.iter().map(|a| a.value.pg().0).collect();
    let values: Vec<_> = args.iter().map(|a| a.value.sql()).collect();
    let params: Vec<&(dyn ToSql + Sync)> = values
        .iter()
        .map(|v| v.as_ref() as &(dyn ToSql + Sync))
        .collect();
    statements.fetch_add(1, Ordering::SeqCst);
    let stmt = pg
        .prepare_typed(&sql, &types)
        .await
        .map_err(|e| Failed::from_pg(&e))?;
    pg.execute(&stmt, &params)
        .await
        .map_err(|e| Failed::from_pg(&e))?;
    wire::done(out, modern, 0xFF, wire::DONE_MORE, 0);
    Ok(())
}

/// `stmt` with `@name` (outside quotes) replaced by its PostgreSQL placeholder.
fn placeholders(stmt: &str, slots: &HashMap<String, String>) -> String {
    let mut out = String::new();
    let mut quoted = false;
    let chars: Vec<char> = stmt.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let ch = chars[i];
        if ch == '\'' {
            quoted = !quoted;
        }
        if ch == '@' && !quoted {
            let mut j = i + 1;
            while j < chars.len() && (chars[j].is_alphanumeric() || chars[j] == '_') {
                j += 1;
            }
            let name: String = chars[i..j].iter().collect::<String>().to_lowercase();
            if let Some(slot) = slots.get(&name) {
                out.push_str(slot);
                i = j;
                continue;
            }
        }
        out.push(ch);
        i += 1;
    }
    out
}

/// Runs `stmt` with the arguments bound to the names `decl` declares (by name, or
/// in order for unnamed ones); its result (or row count) and a DONEINPROC.
async fn execute(
    pg: &tokio_postgres::Client,
    modern: bool,
    stmt: &str,
    decl: &str,
    args: &[Arg],
    counters: [&AtomicU64; 2],
    out: &mut BytesMut,
) -> Result<(), Failed> {
    let names = declared(decl);
    let mut slots = HashMap::new();
    let mut types = Vec::new();
    let mut values = Vec::new();
    for (k, name) in names.iter().enumerate() {
        let arg = args
            .iter()
            .find(|a| a.name.to_lowercase() == *name)
            .or_else(|| args.get(k).filter(|a| a.name.is_empty()))
            .ok_or(format!("no value for {name}"))?;
        if arg.output {
            return Err("OUTPUT parameters are not run by the test origin".into());
        }
        let (ty, cast) = arg.value.pg();
        let slot = match cast {
            Some(to) => format!("CAST(${} AS {to})", k + 1),
            None => format!("${}", k + 1),
        };
        slots.insert(name.clone(), slot);
        types.push(ty);
        values.push(arg.value.sql());
    }
    let sql = placeholders(&translate(stmt), &slots);
    let params: Vec<&(dyn ToSql + Sync)> = values
        .iter()
        .map(|v| v.as_ref() as &(dyn ToSql + Sync))
        .collect();
    counters[0].fetch_add(1, Ordering::SeqCst);
    let db = |e: tokio_postgres::Error| Failed::from_pg(&e);
    let prepared = pg.prepare_typed(&sql, &types).await.map_err(db)?;
    match verb(stmt) {
        Verb::Select | Verb::Output => {
            if verb(stmt) == Verb::Select {
                counters[1].fetch_add(1, Ordering::SeqCst);
            }
            let rows = pg.query(&prepared, &params).await.map_err(db)?;
            wire::result(
                out,
                modern,
                0xFF,
                wire::DONE_MORE,
                prepared.columns(),
                &rows,
            );
        }
        Verb::Other => {
            let n = pg.execute(&prepared, &params).await.map_err(db)?;
            wire::done(out, modern, 0xFF, wire::DONE_MORE | wire::DONE_COUNT, n);
        }
        v => return Err(format!("{v:?} through RPC is not run by the test origin").into()),
    }
    Ok(())
}
