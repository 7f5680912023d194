//! What each origin's catalog is asked (design §3), per dialect: the SQL of a
//! [`CatalogQuestion`](super::CatalogQuestion) and the facts its rows give. Pure
//! functions; a session sends the query over its own origin connection and decodes
//! the rows in its protocol.

pub mod mysql;
pub mod postgres;

/// One row of a catalog answer: its columns as text (`None`: NULL).
pub type Row = Vec<Option<String>>;
