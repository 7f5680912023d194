//! Scripted PostgreSQL clients for protocol tests: a raw frontend that writes the exact
//! message sequences drivers send (pg8000, libpq/psycopg, JDBC, tokio-postgres), and
//! the scripts themselves, so a test can run one straight against the origin and
//! through wirecache and compare the transcripts.

pub mod batches;
pub mod copy;
mod raw;
mod scram;
pub mod setup;

pub use raw::{Msg, Raw, tags};
