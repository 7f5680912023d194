//! Cache keys: the full key material (namespace ID, request kind, SQL text, parameter
//! bytes) in one contiguous buffer. Keys hold the whole text and parameters, never only
//! a hash, so a collision can never hand one user another's rows (design §4.5).
//!
//! A session builds keys in its own scratch buffer and looks them up by `&[u8]`, so a
//! lookup allocates nothing; only a fill copies the key into a `Bytes`.

/// Distinguishes requests whose answers are framed differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum KeyKind {
    /// PostgreSQL simple query (text results).
    PgSimple = 1,
    /// PostgreSQL extended protocol: Bind/[Describe]/Execute.
    PgExtended = 2,
    /// PostgreSQL extended protocol including a portal Describe.
    PgExtendedDescribed = 3,
    /// MySQL COM_QUERY (text results).
    MySqlText = 4,
    /// MySQL COM_STMT_EXECUTE (binary results).
    MySqlBinary = 5,
    /// TDS SQLBatch (its UTF-16 text, ALL_HEADERS excluded).
    TdsBatch = 6,
    /// TDS RPC: `sp_executesql` or a prepared `sp_execute` (statement, declarations,
    /// the parameters' exact bytes).
    TdsRpc = 7,
}

/// Builds key material into a reusable buffer.
#[derive(Debug, Default)]
pub struct KeyBuilder {
    buf: Vec<u8>,
}

impl KeyBuilder {
    /// Starts a key: namespace ID and kind.
    pub fn start(&mut self, namespace: u64, kind: KeyKind) -> &mut Self {
        self.buf.clear();
        self.buf.extend_from_slice(&namespace.to_le_bytes());
        self.buf.push(kind as u8);
        self
    }

    /// Appends one length-prefixed part, so `("ab","c")` and `("a","bc")` differ.
    pub fn part(&mut self, bytes: &[u8]) -> &mut Self {
        let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
        self.buf.extend_from_slice(&len.to_le_bytes());
        self.buf.extend_from_slice(bytes);
        self
    }

    pub fn as_slice(&self) -> &[u8] {
        &self.buf
    }

    /// The key without its namespace ID (which only this process knows): kind and
    /// parts, for a key shared between instances.
    pub fn request(&self) -> &[u8] {
        self.buf.get(8..).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_unambiguous() {
        let mut a = KeyBuilder::default();
        let mut b = KeyBuilder::default();
        a.start(1, KeyKind::PgSimple).part(b"ab").part(b"c");
        b.start(1, KeyKind::PgSimple).part(b"a").part(b"bc");
        assert_ne!(a.as_slice(), b.as_slice());
    }

    #[test]
    fn namespace_and_kind_separate_keys() {
        let mut a = KeyBuilder::default();
        let mut b = KeyBuilder::default();
        a.start(1, KeyKind::PgSimple).part(b"select 1");
        b.start(2, KeyKind::PgSimple).part(b"select 1");
        assert_ne!(a.as_slice(), b.as_slice());
        b.start(1, KeyKind::PgExtended).part(b"select 1");
        assert_ne!(a.as_slice(), b.as_slice());
        b.start(1, KeyKind::PgSimple).part(b"select 1");
        assert_eq!(a.as_slice(), b.as_slice());
    }
}
