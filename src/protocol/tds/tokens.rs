//! The token stream of a server's answer (MS-TDS 2.2.7), scanned as it arrives in
//! pieces of any size: enough to know what the answer holds for the session and the
//! cache (errors, results, environment changes, DONE statuses) without decoding a
//! value. Rows are stepped over column by column; a value's data is skipped without
//! being buffered, so a large value costs no memory. Tokens other than rows are
//! buffered whole, up to a bound.

use bytes::{Buf, BytesMut};

use super::types::{
    Framing, PLP_NULL, Reader, Stop, TableName, type_info, user_type, utf16, value_head,
};

/// The most bytes one non-row token may hold (a wide COLMETADATA is the largest).
pub const MAX_TOKEN: usize = 4 << 20;

pub const DONE_MORE: u16 = 0x0001;
pub const DONE_ERROR: u16 = 0x0002;
pub const DONE_COUNT: u16 = 0x0010;
pub const DONE_ATTN: u16 = 0x0020;
pub const DONE_SRVERROR: u16 = 0x0100;

/// An environment change the session acts on (ENVCHANGE, MS-TDS 2.2.7.9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Env {
    /// The current database (its new name, UTF-16LE bytes).
    Database(Vec<u8>),
    Language(Vec<u8>),
    /// The negotiated packet size.
    PacketSize(usize),
    Collation(Vec<u8>),
    /// A transaction began, with this descriptor.
    Begin(u64),
    Commit,
    Rollback,
    /// Enlisted in, or defected from, a distributed transaction; or one ended.
    Distributed,
    /// The connection was reset (RESETCONNECTION acknowledged).
    Reset,
    /// The server redirects the client elsewhere.
    Routing,
    Other(u8),
}

/// What the answer held so far.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    /// An ERROR token, or a DONE marked as an error.
    pub error: bool,
    /// Result sets begun (COLMETADATA tokens).
    pub results: u32,
    /// INFO tokens and RETURNVALUE / RETURNSTATUS: more than one plain result.
    pub extras: u32,
    pub envs: Vec<Env>,
    /// A LOGINACK token.
    pub login_ack: bool,
    /// A DONE acknowledging an Attention.
    pub attention: bool,
    /// DONE/DONEPROC tokens without DONE_MORE: statements completed.
    pub dones: u32,
    /// RETURNSTATUS tokens (also counted in `extras`): a procedure's end.
    pub statuses: u32,
    /// The first four-byte integer a RETURNVALUE carried (a prepared handle).
    pub returned_int: Option<i32>,
    /// ROW and NBCROW tokens.
    pub rows: u64,
    /// The first ERROR token's number and message.
    pub first_error: Option<(i32, String)>,
}

/// Where the scan stands between pieces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At the start of a token.
    Token,
    /// Inside a row (or a RETURNVALUE's value when `ret`), at column `col`'s head.
    Row { col: usize, ret: bool },
    /// Inside a PLP value of column `col`, at a chunk's length.
    Chunk { col: usize, ret: bool },
}

#[derive(Debug)]
pub struct Scanner {
    carry: BytesMut,
    /// Data bytes of a value still to pass over.
    skip: usize,
    state: State,
    columns: Vec<Framing>,
    /// The NULL bitmap of the NBCROW being scanned (empty for ROW).
    bitmap: Vec<u8>,
    retval: Framing,
    /// TDS 7.0/7.1: DONE row counts are four bytes, not eight; user types two, not
    /// four; a TEXT column's table name is one name, not parts.
    narrow: bool,
    pub summary: Summary,
}

impl Default for Scanner {
    fn default() -> Self {
        Scanner {
            carry: BytesMut::new(),
            skip: 0,
            state: State::Token,
            columns: Vec::new(),
            bitmap: Vec::new(),
            retval: Framing::Fixed(0),
            narrow: false,
            summary: Summary::default(),
        }
    }
}

impl Scanner {
    /// A scanner of answers to a client of `tds_version`.
    pub fn for_version(tds_version: u32) -> Self {
        Scanner {
            narrow: tds_version < super::login::TDS_72,
            ..Scanner::default()
        }
    }

    /// Scans the next piece of the stream.
    pub fn feed(&mut self, mut piece: &[u8]) -> Result<(), &'static str> {
        let n = self.skip.min(piece.len());
        self.skip -= n;
        piece = piece.get(n..).unwrap_or_default();
        if piece.is_empty() {
            return Ok(());
        }
        self.carry.extend_from_slice(piece);
        loop {
            let carry = std::mem::take(&mut self.carry);
            let mut r = Reader::new(&carry);
            let step = self.step(&mut r);
            let used = r.at;
            self.carry = carry;
            match step {
                Ok(skip) => {
                    let avail = self.carry.len() - used;
                    self.carry.advance(used + skip.min(avail));
                    self.skip = skip.saturating_sub(avail);
                    // Data still to pass over arrives in later pieces; nothing more
                    // can be read before it.
                    if self.skip > 0 || (self.carry.is_empty() && self.state == State::Token) {
                        return Ok(());
                    }
                }
                Err(Stop::More) if self.carry.len() > MAX_TOKEN => return Err("token too long"),
                Err(Stop::More) => return Ok(()),
                Err(Stop::Bad(why)) => return Err(why),
            }
        }
    }

    /// The stream is between tokens: an answer may end here.
    pub fn at_boundary(&self) -> bool {
        self.state == State::Token && self.carry.is_empty() && self.skip == 0
    }

    /// Forgets the answer so far (its message ended); column metadata lasts only as
    /// long as a message, which is as long as it can apply.
    pub fn reset(&mut self) {
        *self = Scanner {
            narrow: self.narrow,
            ..Scanner::default()
        };
    }

    /// One step from the front of the carry: on success, how many data bytes to pass
    /// over after what `r` consumed. On `Stop::More` the state is unchanged.
    fn step(&mut self, r: &mut Reader<'_>) -> Result<usize, Stop> {
        match self.state {
            State::Token => self.token(r),
            State::Row { col, ret } => self.value(r, col, ret),
            State::Chunk { col, ret } => {
                let n = r.u32()?;
                if n == 0 {
                    self.state = self.next_col(col + 1, ret);
                }
                usize::try_from(n).map_err(|_| Stop::Bad("length overflow"))
            }
        }
    }

    fn width(&self, ret: bool) -> usize {
        if ret { 1 } else { self.columns.len() }
    }

    fn framing(&self, col: usize, ret: bool) -> Framing {
        if ret {
            self.retval
        } else {
            self.columns.get(col).copied().unwrap_or(Framing::Fixed(0))
        }
    }

    /// The state at or after column `from`: the next non-NULL column, or the next
    /// token.
    fn next_col(&self, from: usize, ret: bool) -> State {
        let mut c = from;
        while c < self.width(ret) && is_null(&self.bitmap, c) {
            c += 1;
        }
        if c >= self.width(ret) {
            State::Token
        } else {
            State::Row { col: c, ret }
        }
    }

    /// The head of column `col`'s value; its data is passed over.
    fn value(&mut self, r: &mut Reader<'_>, col: usize, ret: bool) -> Result<usize, Stop> {
        let f = self.framing(col, ret);
        if f == Framing::Plp {
            let total = r.u64()?;
            self.state = if total == PLP_NULL {
                self.next_col(col + 1, ret)
            } else {
                State::Chunk { col, ret }
            };
            return Ok(0);
        }
        let n = value_head(r, f)?.unwrap_or(0);
        self.state = self.next_col(col + 1, ret);
        Ok(n)
    }

    /// Starts a row of the current result: `nbc` with a NULL bitmap first.
    fn row(&mut self, r: &mut Reader<'_>, nbc: bool) -> Result<usize, Stop> {
        self.bitmap.clear();
        if nbc {
            let bits = r.take(self.columns.len().div_ceil(8))?;
            self.bitmap.extend_from_slice(bits);
        }
        self.summary.rows += 1;
        self.state = self.next_col(0, false);
        Ok(0)
    }

    fn token(&mut self, r: &mut Reader<'_>) -> Result<usize, Stop> {
        let t = r.u8()?;
        match t {
            0x81 => self.colmetadata(r).map(|()| 0),
            0xD1 => self.row(r, false),
            0xD2 => self.row(r, true),
            0xFD..=0xFF => {
                let status = r.u16()?;
                r.take(if self.narrow { 6 } else { 10 })?;
                self.on_done(t, status);
                Ok(0)
            }
            0xE3 => {
                let body = sized(r, 2)?;
                self.summary.envs.push(env_change(body)?);
                Ok(0)
            }
            0xAA => {
                let body = sized(r, 2)?;
                if self.summary.first_error.is_none() {
                    self.summary.first_error = error_of(body);
                }
                self.summary.error = true;
                Ok(0)
            }
            0xAB => {
                sized(r, 2)?;
                self.summary.extras += 1;
                Ok(0)
            }
            0xAD => {
                sized(r, 2)?;
                self.summary.login_ack = true;
                Ok(0)
            }
            0x79 => {
                r.u32()?;
                self.summary.extras += 1;
                self.summary.statuses += 1;
                Ok(0)
            }
            0xAC => self.return_value(r),
            // ORDER, COLINFO, TABNAME, SSPI: two-byte length.
            0xA9 | 0xA5 | 0xA4 | 0xED => sized(r, 2).map(|_| 0),
            // SESSIONSTATE, FEDAUTHINFO: four-byte length.
            0xE4 | 0xEE => sized(r, 4).map(|_| 0),
            0xAE => feature_ext_ack(r).map(|()| 0),
            _ => Err(Stop::Bad("unknown token")),
        }
    }

    fn on_done(&mut self, t: u8, status: u16) {
        if status & (DONE_ERROR | DONE_SRVERROR) != 0 {
            self.summary.error = true;
        }
        if status & DONE_ATTN != 0 {
            self.summary.attention = true;
        }
        if t != 0xFF && status & DONE_MORE == 0 {
            self.summary.dones += 1;
        }
    }

    fn colmetadata(&mut self, r: &mut Reader<'_>) -> Result<(), Stop> {
        let count = r.u16()?;
        let mut cols = Vec::new();
        if count != 0xFFFF {
            for _ in 0..count {
                user_type(r, self.narrow)?;
                r.u16()?;
                cols.push(type_info(r, TableName::in_metadata(self.narrow))?);
                r.b_varchar()?;
            }
        }
        self.columns = cols;
        self.summary.results += 1;
        Ok(())
    }

    fn return_value(&mut self, r: &mut Reader<'_>) -> Result<usize, Stop> {
        r.u16()?;
        r.b_varchar()?;
        r.u8()?;
        user_type(r, self.narrow)?;
        r.u16()?;
        let framing = type_info(r, TableName::Absent)?;
        if framing == Framing::Byte {
            // A small value (an output handle is an INTN): read here, whole.
            let n = usize::from(r.u8()?);
            let v = r.take(n)?;
            if let (None, Ok(b)) = (self.summary.returned_int, <[u8; 4]>::try_from(v)) {
                self.summary.returned_int = Some(i32::from_le_bytes(b));
            }
            self.summary.extras += 1;
            self.state = State::Token;
            return Ok(0);
        }
        self.retval = framing;
        self.summary.extras += 1;
        self.bitmap.clear();
        self.state = State::Row { col: 0, ret: true };
        Ok(0)
    }
}

fn is_null(bitmap: &[u8], col: usize) -> bool {
    bitmap
        .get(col / 8)
        .is_some_and(|b| b & (1 << (col % 8)) != 0)
}

/// A token's body after a `width`-byte length.
fn sized<'a>(r: &mut Reader<'a>, width: usize) -> Result<&'a [u8], Stop> {
    let n = if width == 2 {
        usize::from(r.u16()?)
    } else {
        usize::try_from(r.u32()?).map_err(|_| Stop::Bad("length overflow"))?
    };
    if n > MAX_TOKEN {
        return Err(Stop::Bad("token too long"));
    }
    r.take(n)
}

/// An ERROR token's number and message (MS-TDS 2.2.7.10), if its body holds them.
fn error_of(body: &[u8]) -> Option<(i32, String)> {
    let mut r = Reader::new(body);
    let number = i32::from_le_bytes(r.take(4).ok()?.try_into().ok()?);
    r.take(2).ok()?;
    Some((number, utf16(r.us_varchar().ok()?)))
}

fn feature_ext_ack(r: &mut Reader<'_>) -> Result<(), Stop> {
    loop {
        if r.u8()? == 0xFF {
            return Ok(());
        }
        sized(r, 4)?;
    }
}

/// One ENVCHANGE body (its length already read).
fn env_change(body: &[u8]) -> Result<Env, Stop> {
    let mut r = Reader::new(body);
    let bad = |_| Stop::Bad("malformed ENVCHANGE");
    let kind = r.u8().map_err(bad)?;
    Ok(match kind {
        1 => Env::Database(r.b_varchar().map_err(bad)?.to_vec()),
        2 => Env::Language(r.b_varchar().map_err(bad)?.to_vec()),
        4 => {
            let text = utf16(r.b_varchar().map_err(bad)?);
            Env::PacketSize(
                text.parse()
                    .map_err(|_| Stop::Bad("malformed packet size"))?,
            )
        }
        7 => {
            let n = usize::from(r.u8().map_err(bad)?);
            Env::Collation(r.take(n).map_err(bad)?.to_vec())
        }
        8 => {
            let n = usize::from(r.u8().map_err(bad)?);
            let v = r.take(n).map_err(bad)?;
            Env::Begin(u64::from_le_bytes(v.try_into().unwrap_or_default()))
        }
        9 => Env::Commit,
        10 => Env::Rollback,
        11 | 12 | 17 => Env::Distributed,
        18 => Env::Reset,
        20 => Env::Routing,
        other => Env::Other(other),
    })
}
