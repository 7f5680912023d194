//! The client kinds of `wirecache latency-test`: PostgreSQL (tokio-postgres),
//! MySQL/MariaDB (mysql_async) and SQL Server (wirecache's own TDS client, `mssql`),
//! behind one `Client` that runs a query and reports how many rows came back. Also
//! URL checks and password redaction.

use mysql_async::prelude::Queryable;
use tokio::task::JoinHandle;

use super::mssql::MsSqlUrl;
use crate::protocol::tds::client as tds;

/// Which side of the comparison a client is on, for messages.
pub type Side = &'static str;

/// Why a latency test could not run.
#[derive(Debug, thiserror::Error)]
pub enum LatencyError {
    #[error("{side}: unsupported URL {url:?} (expected postgres://…, mysql://… or mssql://…)")]
    Url { side: Side, url: String },
    #[error("{side}: invalid URL {url:?}: {reason}")]
    InvalidUrl {
        side: Side,
        url: String,
        reason: String,
    },
    #[error("{side}: --prepared is not supported for mssql:// URLs (queries go as SQLBatch)")]
    NotPrepared { side: Side },
    #[error("{side}: cannot connect to {url}: {message}")]
    Connect {
        side: Side,
        url: String,
        message: String,
    },
    #[error("{side}: query failed: {message}")]
    Query { side: Side, message: String },
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
}

/// The wire protocol a URL asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Postgres,
    MySql,
    MsSql,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Postgres => "postgres",
            Kind::MySql => "mysql",
            Kind::MsSql => "mssql",
        }
    }

    /// The kind named by the URL's scheme.
    pub fn of_url(url: &str) -> Option<Kind> {
        let (scheme, _) = url.split_once("://")?;
        match scheme.to_ascii_lowercase().as_str() {
            "postgres" | "postgresql" => Some(Kind::Postgres),
            "mysql" | "mariadb" => Some(Kind::MySql),
            "mssql" | "sqlserver" => Some(Kind::MsSql),
            _ => None,
        }
    }
}

/// The URL with its password (if any) replaced by `***`, for printing.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (auth, host) = match rest.rsplit_once('@') {
        Some(split) => split,
        None => return url.to_string(),
    };
    match auth.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
    }
}

/// Checks that `url` can be used with these options before anything connects.
pub fn check_url(side: Side, url: &str, prepared: bool) -> Result<Kind, LatencyError> {
    let kind = Kind::of_url(url).ok_or_else(|| LatencyError::Url {
        side,
        url: redact(url),
    })?;
    if kind == Kind::MsSql {
        MsSqlUrl::parse(url).map_err(|e| LatencyError::InvalidUrl {
            side,
            url: redact(url),
            reason: e.to_string(),
        })?;
        if prepared {
            return Err(LatencyError::NotPrepared { side });
        }
    }
    Ok(kind)
}

/// One connection of either kind, optionally with the query prepared once.
pub enum Client {
    Postgres {
        client: tokio_postgres::Client,
        statement: Option<tokio_postgres::Statement>,
        driver: JoinHandle<()>,
    },
    MySql {
        conn: Box<mysql_async::Conn>,
        statement: Option<mysql_async::Statement>,
    },
    MsSql(Box<tds::Connection>),
}

impl Client {
    /// Connects to `url`; with `prepared`, prepares `query` once so that each run is
    /// a bind and execute of the named statement.
    pub async fn connect(
        side: Side,
        url: &str,
        query: &str,
        prepared: bool,
    ) -> Result<Client, LatencyError> {
        let connect_err = |message: String| LatencyError::Connect {
            side,
            url: redact(url),
            message,
        };
        let query_err = |e: &dyn std::fmt::Display| LatencyError::Query {
            side,
            message: e.to_string(),
        };
        match Kind::of_url(url) {
            Some(Kind::Postgres) => {
                let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
                    .await
                    .map_err(|e| connect_err(full_error(&e)))?;
                let driver = tokio::spawn(async move {
                    // Errors surface on the client's next call.
                    let _ = connection.await;
                });
                let statement = if prepared {
                    Some(client.prepare(query).await.map_err(|e| query_err(&e))?)
                } else {
                    None
                };
                Ok(Client::Postgres {
                    client,
                    statement,
                    driver,
                })
            }
            Some(Kind::MySql) => {
                let mysql_url = match url.split_once("://") {
                    Some((_, rest)) => format!("mysql://{rest}"),
                    None => url.to_string(),
                };
                let opts = mysql_async::Opts::from_url(&mysql_url)
                    .map_err(|e| connect_err(e.to_string()))?;
                // The driver would otherwise ask the server for its unix socket and
                // reconnect there: straight to the origin, around wirecache.
                let opts = mysql_async::OptsBuilder::from_opts(opts).prefer_socket(false);
                let mut conn = mysql_async::Conn::new(opts)
                    .await
                    .map_err(|e| connect_err(e.to_string()))?;
                let statement = if prepared {
                    Some(conn.prep(query).await.map_err(|e| query_err(&e))?)
                } else {
                    None
                };
                Ok(Client::MySql {
                    conn: Box::new(conn),
                    statement,
                })
            }
            Some(Kind::MsSql) => Self::connect_mssql(side, url, prepared).await,
            None => Err(LatencyError::Url {
                side,
                url: redact(url),
            }),
        }
    }

    /// Connects to an `mssql://` URL with wirecache's own TDS client.
    async fn connect_mssql(side: Side, url: &str, prepared: bool) -> Result<Client, LatencyError> {
        check_url(side, url, prepared)?;
        let connect_err = |message: String| LatencyError::Connect {
            side,
            url: redact(url),
            message,
        };
        let parsed = MsSqlUrl::parse(url).map_err(|e| connect_err(e.to_string()))?;
        let conn = super::mssql::connect(&parsed).await.map_err(connect_err)?;
        Ok(Client::MsSql(Box::new(conn)))
    }

    /// Runs `query` once (or the prepared statement), reads the whole answer and
    /// returns the number of rows.
    pub async fn run(&mut self, side: Side, query: &str) -> Result<u64, LatencyError> {
        let query_err = |e: &dyn std::fmt::Display| LatencyError::Query {
            side,
            message: e.to_string(),
        };
        match self {
            Client::Postgres {
                client,
                statement: Some(statement),
                ..
            } => {
                let rows = client.query(&*statement, &[]).await;
                Ok(rows.map_err(|e| pg_error(side, &e))?.len() as u64)
            }
            Client::Postgres { client, .. } => {
                let messages = client.simple_query(query).await;
                Ok(messages
                    .map_err(|e| pg_error(side, &e))?
                    .iter()
                    .filter(|m| matches!(m, tokio_postgres::SimpleQueryMessage::Row(_)))
                    .count() as u64)
            }
            Client::MySql {
                conn,
                statement: Some(statement),
            } => {
                let mut rows = 0u64;
                let result = conn
                    .exec_iter(&*statement, ())
                    .await
                    .map_err(|e| query_err(&e))?;
                result
                    .for_each_and_drop(|_| rows += 1)
                    .await
                    .map_err(|e| query_err(&e))?;
                Ok(rows)
            }
            Client::MsSql(conn) => super::mssql::run(conn, query)
                .await
                .map_err(|message| LatencyError::Query { side, message }),
            Client::MySql { conn, .. } => {
                let mut rows = 0u64;
                let result = conn.query_iter(query).await.map_err(|e| query_err(&e))?;
                result
                    .for_each_and_drop(|_| rows += 1)
                    .await
                    .map_err(|e| query_err(&e))?;
                Ok(rows)
            }
        }
    }

    /// Closes the connection politely (Terminate / COM_QUIT).
    pub async fn close(self) {
        match self {
            Client::Postgres { client, driver, .. } => {
                drop(client);
                let _ = driver.await;
            }
            Client::MySql { conn, .. } => {
                let _ = conn.disconnect().await;
            }
            Client::MsSql(conn) => conn.close().await,
        }
    }
}

/// A tokio-postgres error with its cause: the server's message lives in the source.
fn full_error(e: &tokio_postgres::Error) -> String {
    match std::error::Error::source(e) {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    }
}

/// A PostgreSQL client error with everything the server said.
fn pg_error(side: Side, e: &tokio_postgres::Error) -> LatencyError {
    LatencyError::Query {
        side,
        message: full_error(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_by_scheme() {
        for (url, want) in [
            ("postgres://u:p@h:1/d", Some(Kind::Postgres)),
            ("postgresql://u@h/d", Some(Kind::Postgres)),
            ("POSTGRES://u@h/d", Some(Kind::Postgres)),
            ("mysql://u:p@h:3306/d", Some(Kind::MySql)),
            ("mariadb://u:p@h:3306/d", Some(Kind::MySql)),
            ("mssql://u:p@h:1433/d", Some(Kind::MsSql)),
            ("sqlserver://u:p@h/d", Some(Kind::MsSql)),
            ("redis://h", None),
            ("host=h port=1", None),
            ("", None),
        ] {
            assert_eq!(Kind::of_url(url), want, "{url}");
        }
    }

    #[test]
    fn passwords_are_redacted() {
        for (url, want) in [
            ("postgres://u:secret@h:1/d", "postgres://u:***@h:1/d"),
            ("mysql://demo-u:p@ss@h/d", "mysql://demo-u:***@h/d"),
            ("postgres://u@h:1/d", "postgres://u@h:1/d"),
            ("postgres://h:1/d", "postgres://h:1/d"),
            ("mssql://sq-u:s3cret@h:1433/d", "mssql://sq-u:***@h:1433/d"),
            ("nonsense", "nonsense"),
        ] {
            assert_eq!(redact(url), want, "{url}");
        }
    }
}
