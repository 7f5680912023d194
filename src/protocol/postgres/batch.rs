//! What a session knows of the client's extended-protocol state: the statements and
//! portals it prepared, the unnamed statement (whose Parse may be deferred, or may have
//! to be sent again), a Bind held back, and where the current batch stands between one
//! Sync and the next. The messages themselves are handled in `extended`.
//!
//! A batch, as the origin sees it: messages up to a Sync. After an error the origin
//! skips everything up to that Sync (`failed`); the Sync then gets one ReadyForQuery.

use std::sync::Arc;

use bytes::Bytes;

use super::codec::Frame;

/// Statements and portals tracked per session, at most.
pub const MAX_TRACKED: usize = 10_000;

/// A statement the client prepared.
#[derive(Debug)]
pub struct Prepared {
    pub sql: Box<str>,
    /// Parameter count and type OIDs as sent in Parse (part of the cache key).
    pub param_types: Bytes,
}

/// A Bind waiting for the message that follows it.
pub struct Held {
    pub bind: Frame,
    /// Offset of the formats/values/result-formats part in `bind.bytes`.
    pub rest_at: usize,
    pub portal: Vec<u8>,
    /// It binds the unnamed statement (whose Parse may still be deferred).
    pub unnamed_stmt: bool,
    /// The client's name for the statement (a slice of its Bind).
    pub stmt_name: Bytes,
    pub stmt: Arc<Prepared>,
    pub describe: Option<Frame>,
}

/// The unnamed statement's Parse and whether the origin holds that statement now.
#[derive(Default)]
pub struct Unnamed {
    pub stmt: Option<Arc<Prepared>>,
    /// The client's Parse, kept so it can be sent (again) when the origin needs it.
    pub parse: Option<Frame>,
    /// The origin has it: the Parse was sent and nothing replaced it since.
    pub at_origin: bool,
}

#[derive(Default)]
pub struct Extended {
    pub statements: crate::hashing::Map<Vec<u8>, Arc<Prepared>>,
    pub unnamed: Unnamed,
    pub portals: crate::hashing::Map<Vec<u8>, Arc<Prepared>>,
    pub held: Option<Held>,
    /// A message of the extended protocol came after the last Sync.
    pub in_batch: bool,
    /// Something of the current batch (since the last Sync) reached the origin.
    pub batch_forwarded: bool,
    /// The current batch wrote or changed transaction state: nothing in it is cached.
    pub batch_unsafe: bool,
    /// An error ended the batch at the origin; everything up to Sync is ignored there.
    failed: bool,
}

impl Extended {
    /// Nothing of the current batch has reached the origin.
    pub fn synced(&self) -> bool {
        !self.batch_forwarded
    }

    /// Between batches: every message so far was followed by a Sync.
    pub fn between_batches(&self) -> bool {
        !self.in_batch
    }

    /// A simple query replaces the unnamed statement at the origin, and the client
    /// knows it.
    pub fn forget_unnamed(&mut self) {
        self.unnamed = Unnamed::default();
    }

    /// A query of wirecache's own (a catalog question) replaced the unnamed statement
    /// at the origin behind the client's back: its Parse is sent again when needed.
    pub fn unnamed_replaced(&mut self) {
        self.unnamed.at_origin = false;
    }

    pub fn clear_statements(&mut self) {
        self.statements.clear();
        self.portals.clear();
    }

    /// The origin reported an error and now skips the client's messages up to Sync. A
    /// Bind still held back came after the error: the origin would skip it too.
    pub fn fail_batch(&mut self) {
        self.failed = true;
        self.held = None;
    }

    /// The origin skips the client's messages until the next Sync.
    pub fn failed(&self) -> bool {
        self.failed
    }

    /// A Sync ends the batch.
    pub fn end_batch(&mut self) {
        self.in_batch = false;
        self.batch_forwarded = false;
        self.batch_unsafe = false;
        self.failed = false;
    }

    /// The origin entered copy-in mode for an Execute of this batch: the Syncs the
    /// client sent after it were ignored there, so the batch is still open and its
    /// real Sync (after CopyDone or CopyFail) must reach the origin.
    pub fn resume_batch(&mut self) {
        self.in_batch = true;
        self.batch_forwarded = true;
        self.batch_unsafe = true;
    }

    pub fn statement(&self, name: &[u8]) -> Option<Arc<Prepared>> {
        if name.is_empty() {
            self.unnamed.stmt.clone()
        } else {
            self.statements.get(name).cloned()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_is_open_until_its_sync() {
        let mut e = Extended::default();
        assert!(e.synced() && e.between_batches() && !e.failed());
        e.in_batch = true;
        e.batch_forwarded = true;
        e.fail_batch();
        assert!(e.failed() && !e.synced() && !e.between_batches());
        e.end_batch();
        assert!(e.synced() && e.between_batches() && !e.failed());
        // Copy-in reopens the batch its Execute belonged to.
        e.resume_batch();
        assert!(!e.synced() && !e.between_batches() && e.batch_unsafe);
    }

    #[test]
    fn a_catalog_question_makes_the_unnamed_parse_due_again() {
        let mut e = Extended {
            unnamed: Unnamed {
                stmt: None,
                parse: Some(Frame {
                    bytes: Bytes::from_static(b"P\0\0\0\x08\0\0\0\0"),
                }),
                at_origin: true,
            },
            ..Extended::default()
        };
        e.unnamed_replaced();
        assert!(!e.unnamed.at_origin && e.unnamed.parse.is_some());
        e.forget_unnamed();
        assert!(e.unnamed.parse.is_none());
    }
}
