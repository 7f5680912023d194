//! Where an origin's answer to one command ends, packet by packet (pure, no I/O).
//!
//! Shapes, by command:
//! - `Results` (COM_QUERY, COM_STMT_EXECUTE, COM_PROCESS_INFO and unknown commands): one
//!   or more results, each an OK, an ERR, a LOCAL INFILE request (then the client's
//!   file, then OK/ERR), or a result set: column count, column definitions, an EOF
//!   unless CLIENT_DEPRECATE_EOF, rows, and an EOF/OK terminator. A terminator or OK
//!   whose status has SERVER_MORE_RESULTS_EXISTS starts the next result.
//! - `Cursor`: COM_STMT_EXECUTE that asked for a cursor: as `Results`, but the packet
//!   after the column definitions ends the answer when it says CURSOR_EXISTS.
//! - `Rows` (COM_STMT_FETCH): rows then a terminator, or ERR.
//! - `Prepare`: PREPARE_OK, parameter definitions [EOF], column definitions [EOF].
//! - `FieldList`: column definitions until EOF, or ERR.
//! - `Single`: one packet (OK, ERR, EOF, or COM_STATISTICS's string).
//! - `Auth` (COM_CHANGE_USER): auth switch / more data rounds until OK or ERR.
//! - `Stream` (binlog dumps): never ends; the session just relays.
//!
//! Transitions are in [`Tracker::step`]; continuation packets of a payload over 16 MiB
//! are never passed to it.

use super::codec::Reader;

pub const SERVER_STATUS_IN_TRANS: u16 = 1;
pub const SERVER_STATUS_AUTOCOMMIT: u16 = 2;
pub const SERVER_MORE_RESULTS_EXISTS: u16 = 8;
pub const SERVER_STATUS_CURSOR_EXISTS: u16 = 0x40;
pub const SERVER_STATUS_IN_TRANS_READONLY: u16 = 0x2000;
pub const SERVER_SESSION_STATE_CHANGED: u16 = 0x4000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Results,
    Cursor,
    Rows,
    Prepare,
    FieldList,
    Single,
    Auth,
    Stream,
}

/// Where in the answer the tracker is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Expecting the first packet of a result.
    Start,
    /// Column (or parameter) definitions still to come; `then` follows them.
    Defs {
        left: u64,
        then: AfterDefs,
    },
    /// Expecting the EOF after definitions; `then` follows it.
    DefsEof {
        then: AfterDefs,
    },
    Rows,
    /// After a LOCAL INFILE request: the OK/ERR that ends that result.
    Infile,
    /// PREPARE_OK seen: parameter then column definitions.
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AfterDefs {
    Rows,
    /// A cursor execute: the next 0xFE packet may end the answer.
    CursorEof,
    /// Prepare: column definitions follow (count), or the end.
    PrepareColumns(u16),
    End,
}

/// What one packet was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// Part of the answer, nothing to note.
    Part,
    /// A result set's first packet (column count).
    ResultSet,
    /// OK, EOF or a terminator: a statement ended, with the server's status flags.
    Status { status: u16, warnings: u16 },
    /// ERR.
    Error,
    /// A LOCAL INFILE request: the client sends a file next.
    Infile,
}

/// Tracks one command's answer.
#[derive(Debug, Clone)]
pub struct Tracker {
    shape: Shape,
    state: State,
    deprecate_eof: bool,
}

/// Status flags and warnings of an OK packet (header 0x00 or 0xFE).
pub fn ok_status(payload: &[u8]) -> Option<(u16, u16)> {
    let mut r = Reader::new(payload);
    r.u8()?;
    r.lenenc()?;
    r.lenenc()?;
    Some((r.u16()?, r.u16().unwrap_or(0)))
}

/// Status flags and warnings of an EOF packet (0xFE, warnings, status).
pub fn eof_status(payload: &[u8]) -> Option<(u16, u16)> {
    let mut r = Reader::new(payload);
    r.u8()?;
    let warnings = r.u16()?;
    Some((r.u16()?, warnings))
}

fn is_eof(p: &[u8]) -> bool {
    p.first() == Some(&0xFE) && p.len() < 9
}

impl Tracker {
    pub fn new(shape: Shape, deprecate_eof: bool) -> Self {
        let state = match shape {
            Shape::Rows => State::Rows,
            Shape::FieldList => State::Defs {
                left: u64::MAX,
                then: AfterDefs::End,
            },
            _ => State::Start,
        };
        Self {
            shape,
            state,
            deprecate_eof,
        }
    }

    pub fn shape(&self) -> Shape {
        self.shape
    }

    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// True while rows are expected (the next non-terminator packet is a row).
    pub fn in_rows(&self) -> bool {
        self.state == State::Rows
    }

    /// A terminator (EOF, or OK with a 0xFE header under CLIENT_DEPRECATE_EOF).
    fn terminator(&mut self, p: &[u8]) -> Event {
        let parsed = if self.deprecate_eof {
            ok_status(p)
        } else {
            eof_status(p)
        };
        let (status, warnings) = parsed.unwrap_or((0, 0));
        self.state = if status & SERVER_MORE_RESULTS_EXISTS != 0 && self.shape == Shape::Results {
            State::Start
        } else {
            State::Done
        };
        Event::Status { status, warnings }
    }

    fn after_defs(&mut self, then: AfterDefs) -> State {
        match then {
            AfterDefs::Rows => State::Rows,
            AfterDefs::CursorEof => State::Rows,
            AfterDefs::PrepareColumns(0) | AfterDefs::End => State::Done,
            AfterDefs::PrepareColumns(n) => self.defs(u64::from(n), AfterDefs::End),
        }
    }

    fn defs(&self, left: u64, then: AfterDefs) -> State {
        if left == 0 {
            State::Done
        } else {
            State::Defs { left, then }
        }
    }

    /// The first packet of a result (or of a whole answer).
    fn start(&mut self, p: &[u8]) -> Event {
        match p.first() {
            Some(0x00) if self.shape == Shape::Prepare => self.prepare_ok(p),
            Some(0x00) => {
                let (status, warnings) = ok_status(p).unwrap_or((0, 0));
                let more = status & SERVER_MORE_RESULTS_EXISTS != 0;
                self.state = if more && self.shape == Shape::Results {
                    State::Start
                } else {
                    State::Done
                };
                Event::Status { status, warnings }
            }
            Some(0xFF) => {
                self.state = State::Done;
                Event::Error
            }
            Some(0xFE) => {
                let (status, warnings) = eof_status(p).unwrap_or((0, 0));
                self.state = State::Done;
                Event::Status { status, warnings }
            }
            Some(0xFB) if matches!(self.shape, Shape::Results | Shape::Cursor) => {
                self.state = State::Infile;
                Event::Infile
            }
            _ if matches!(self.shape, Shape::Results | Shape::Cursor) => {
                let n = Reader::new(p).lenenc().unwrap_or(0);
                let then = if self.shape == Shape::Cursor {
                    AfterDefs::CursorEof
                } else {
                    AfterDefs::Rows
                };
                self.state = State::Defs { left: n, then };
                Event::ResultSet
            }
            _ => {
                // COM_STATISTICS's string, or anything else a one-packet command says.
                self.state = State::Done;
                Event::Part
            }
        }
    }

    fn prepare_ok(&mut self, p: &[u8]) -> Event {
        let mut r = Reader::new(p);
        let counts = r
            .take(5)
            .and_then(|_| Some((r.u16()?, r.u16()?)))
            .unwrap_or((0, 0));
        let (columns, params) = counts;
        self.state = if params > 0 {
            State::Defs {
                left: u64::from(params),
                then: AfterDefs::PrepareColumns(columns),
            }
        } else {
            self.after_defs(AfterDefs::PrepareColumns(columns))
        };
        Event::Part
    }

    /// Advances over one packet's payload (never a continuation packet).
    pub fn step(&mut self, p: &[u8]) -> Event {
        match self.state {
            State::Done => Event::Part,
            State::Start if self.shape == Shape::Auth => match p.first() {
                Some(0x00) | Some(0xFF) => self.start(p),
                _ => Event::Part,
            },
            State::Start if self.shape == Shape::Stream => Event::Part,
            State::Start => self.start(p),
            State::Infile => self.start(p),
            State::Defs { left, then } => {
                if p.first() == Some(&0xFF) {
                    self.state = State::Done;
                    return Event::Error;
                }
                if left == u64::MAX && is_eof(p) {
                    // COM_FIELD_LIST: definitions until EOF.
                    return self.terminator(p);
                }
                self.state = if left == u64::MAX {
                    self.state
                } else if left > 1 {
                    State::Defs {
                        left: left - 1,
                        then,
                    }
                } else if self.deprecate_eof {
                    self.after_defs(then)
                } else {
                    State::DefsEof { then }
                };
                Event::Part
            }
            State::DefsEof { then } => {
                let (status, warnings) = eof_status(p).unwrap_or((0, 0));
                if then == AfterDefs::CursorEof && status & SERVER_STATUS_CURSOR_EXISTS != 0 {
                    self.state = State::Done;
                    return Event::Status { status, warnings };
                }
                self.state = self.after_defs(then);
                Event::Part
            }
            State::Rows => self.row(p),
        }
    }

    fn row(&mut self, p: &[u8]) -> Event {
        match p.first() {
            Some(0xFF) => {
                self.state = State::Done;
                Event::Error
            }
            Some(0xFE) if p.len() < 9 || (self.deprecate_eof && p.len() < 0xFF_FFFF) => {
                self.terminator(p)
            }
            _ => Event::Part,
        }
    }
}

#[cfg(test)]
#[path = "response_tests.rs"]
mod tests;
