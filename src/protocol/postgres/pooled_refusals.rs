//! What a transaction-pooled session refuses, as the origin would: a Parse of a
//! statement name the client already uses (PostgreSQL's `42P05 prepared statement "x"
//! already exists`), and a Parse past the session's bounds of tracked statements
//! (`batch::MAX_TRACKED` of them, `pooled_parse::MAX_TEXT_BYTES` of their text).
//!
//! The refusal is made by the origin itself, on the connection the session leases:
//! a Parse bound to fail goes out in the client's Parse's place, so the origin fails
//! the batch (skipping to Sync) and the transaction (the implicit one rolled back, an
//! explicit one aborted) exactly as it would have, and any error the origin reports
//! before the name check (a syntax error, an aborted transaction) is the client's, as
//! without wirecache. For a reused name the Parse is the client's own text under the
//! server-side name of the statement the client already has (prepared first, so the
//! name surely exists): the origin answers 42P05, and its message then names the
//! client's statement instead of `wc_<n>`. Past a bound, the client gets
//! wirecache's own error (`errors::statement_limit`) instead of the origin's.

use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};

use super::batch::Prepared;
use super::errors::PgError;
use super::messages::{self, Body};
use super::pooled_stmts;
use super::session::{Answer, Expect, Session};
use crate::engine::Effects;

/// PostgreSQL's duplicate_prepared_statement and invalid_sql_statement_name: the
/// errors whose message names a prepared statement.
const NAMING: [&[u8]; 2] = [b"42P05", b"26000"];

/// What the client is told instead of the origin's ErrorResponse to a Parse.
#[derive(Debug, Clone)]
pub enum OnError {
    /// The origin's error; if it is 42P05 or 26000 (`prepared statement "wc_<n>"
    /// does not exist`, to a Bind or Describe of a statement whose Parse failed),
    /// with the server-side name of statement `id` in its message replaced by the
    /// client's name for it.
    Rename { id: u64, client: Bytes },
    /// An error of wirecache's own.
    Replace(Bytes),
    /// The origin's error as it is, to the client's Parse `.0` (`pooled_parse`): the
    /// session forgets what the failure undoes.
    Relay(Box<super::pooled_parse::ClientParse>),
}

impl OnError {
    /// What the client gets for the origin's ErrorResponse `frame` (whole message).
    pub fn apply(&self, frame: &Bytes) -> Bytes {
        match self {
            OnError::Replace(error) => error.clone(),
            OnError::Relay(_) => frame.clone(),
            OnError::Rename { id, client } => {
                renamed(frame, *id, client).unwrap_or_else(|| frame.clone())
            }
        }
    }
}

/// `frame` (an ErrorResponse) with `"wc_<id>"` in its message replaced by
/// `"<client>"`; `None` if it is not a 42P05 or 26000 naming that statement, or
/// malformed.
fn renamed(frame: &[u8], id: u64, client: &[u8]) -> Option<Bytes> {
    let body = frame.get(5..)?;
    let server = format!("\"{}\"", pooled_stmts::name(id));
    let mut fields = Vec::new();
    let mut b = Body::new(body);
    loop {
        let kind = b.u8()?;
        if kind == 0 {
            break;
        }
        fields.push((kind, b.cstr()?));
    }
    let naming = fields
        .iter()
        .any(|&(k, v)| k == b'C' && NAMING.contains(&v));
    let (_, message) = fields.iter().find(|(k, _)| *k == b'M')?;
    let at = memchr::memmem::find(message, server.as_bytes())?;
    if !naming {
        return None;
    }
    let mut out = BytesMut::with_capacity(body.len() + client.len());
    for (kind, value) in fields {
        out.put_u8(kind);
        if kind == b'M' {
            out.put_slice(value.get(..at)?);
            out.put_u8(b'"');
            out.put_slice(client);
            out.put_u8(b'"');
            out.put_slice(value.get(at + server.len()..)?);
        } else {
            out.put_slice(value);
        }
        out.put_u8(0);
    }
    out.put_u8(0);
    let mut message = BytesMut::with_capacity(out.len() + 5);
    messages::put_message(&mut message, b'E', &out);
    Some(message.freeze())
}

impl Session {
    /// The client's Parse of `name`, a statement it already has (`old`), with the
    /// text and types of `new`: refused by the origin (see the module docs).
    pub async fn txn_reparse(
        &mut self,
        name: &[u8],
        old: &Arc<Prepared>,
        new: &Prepared,
    ) -> Result<(), PgError> {
        self.ensure_origin().await?;
        let Some(id) = self.server_id(old) else {
            return Ok(());
        };
        // Whatever the connection is thought to have, the name is made sure (and
        // unsure again once the batch fails, as it will).
        self.sending(id);
        self.prepare_server(id, old, true, None);
        self.core
            .to_origin(&pooled_stmts::parse(id, &new.sql, &new.param_types));
        let client = Bytes::copy_from_slice(name);
        self.expect_refusal(OnError::Rename { id, client });
        Ok(())
    }

    /// A Parse of a new name past the session's bounds (`pooled_parse`): refused
    /// with wirecache's `error`.
    pub async fn txn_refuse_parse(&mut self, error: Bytes) -> Result<(), PgError> {
        self.ensure_origin().await?;
        self.core.to_origin(&pooled_stmts::failing_parse());
        self.expect_refusal(OnError::Replace(error));
        Ok(())
    }

    fn expect_refusal(&mut self, on_error: OnError) {
        let answer = Answer {
            expect: Expect::Parse,
            swallow: false,
            on_error: Some(on_error),
        };
        self.core.expect(answer, Effects::default(), false);
        self.ext.batch_forwarded = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(fields: &[(u8, &[u8])]) -> Bytes {
        let mut body = Vec::new();
        for (k, v) in fields {
            body.push(*k);
            body.extend_from_slice(v);
            body.push(0);
        }
        body.push(0);
        let mut out = BytesMut::new();
        messages::put_message(&mut out, b'E', &body);
        out.freeze()
    }

    #[test]
    fn a_duplicate_names_the_clients_statement() {
        let origin = error(&[
            (b'S', b"ERROR"),
            (b'C', b"42P05"),
            (b'M', b"prepared statement \"wc_7\" already exists"),
            (b'R', b"StorePreparedStatement"),
        ]);
        let rename = OnError::Rename {
            id: 7,
            client: Bytes::from_static(b"s1"),
        };
        let want = error(&[
            (b'S', b"ERROR"),
            (b'C', b"42P05"),
            (b'M', b"prepared statement \"s1\" already exists"),
            (b'R', b"StorePreparedStatement"),
        ]);
        assert_eq!(rename.apply(&origin), want);
    }

    #[test]
    fn a_missing_statement_names_the_clients_statement() {
        let origin = error(&[
            (b'C', b"26000"),
            (b'M', b"prepared statement \"wc_17\" does not exist"),
        ]);
        let rename = OnError::Rename {
            id: 17,
            client: Bytes::from_static(b"s1"),
        };
        let want = error(&[
            (b'C', b"26000"),
            (b'M', b"prepared statement \"s1\" does not exist"),
        ]);
        assert_eq!(rename.apply(&origin), want);
    }

    #[test]
    fn other_errors_pass_unchanged() {
        let syntax = error(&[
            (b'C', b"42601"),
            (b'M', b"syntax error at or near \"wc_7\""),
        ]);
        let other_statement = error(&[
            (b'C', b"42P05"),
            (b'M', b"prepared statement \"wc_8\" already exists"),
        ]);
        let rename = OnError::Rename {
            id: 7,
            client: Bytes::from_static(b"s1"),
        };
        for e in [
            syntax,
            other_statement,
            Bytes::from_static(b"E\0\0\0\x05\x43"),
        ] {
            assert_eq!(rename.apply(&e), e);
        }
        let ours = Bytes::from_static(b"mine");
        assert_eq!(OnError::Replace(ours.clone()).apply(&error(&[])), ours);
    }
}
