//! Wire protocols. Each speaks bytes to its clients and origins and meets the engine
//! only through `engine::{Scope, QueryRequest, Decision}`. `pipes` holds what every
//! session has in common: the two connections and their buffers; `drive` runs every
//! session's loop (read, act on each message, flush, stop).

mod drive;
mod error;
pub mod mysql;
mod offline;
pub mod origin;
mod pipes;
pub mod postgres;
pub mod tds;

pub use drive::{FLUSH_AT, ProxySession, drive, drive_ref};
pub use error::SessionError;
pub use pipes::{End, IoFailure, Pipes, READ_AHEAD, Side, write_out};
