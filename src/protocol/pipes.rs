//! What every proxied session has, whatever its protocol: the two connections split
//! into halves, a read buffer for each, and an output buffer for each that is written
//! out in one go (so a burst of small messages costs one system call).

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::server::stream::{ReadHalf, Stream, WriteHalf, split};

/// How much room a codec makes in a read buffer for a message whose length is declared
/// but whose bytes have not arrived: never the whole declared length at once, so a
/// few header bytes cannot make wirecache allocate megabytes; the buffer grows as the
/// bytes really arrive.
pub const READ_AHEAD: usize = 64 * 1024;

/// Which end of a proxied connection something happened on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Client,
    Origin,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Client => "client",
            Side::Origin => "origin",
        }
    }
}

impl std::fmt::Display for Side {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An I/O failure and the side it happened on; each protocol's error type converts it.
#[derive(Debug)]
pub struct IoFailure {
    pub side: Side,
    pub source: std::io::Error,
}

/// Both connections of a session and their buffers.
pub struct Pipes {
    pub client_rd: ReadHalf,
    pub client_wr: WriteHalf,
    pub origin_rd: ReadHalf,
    pub origin_wr: WriteHalf,
    /// Bytes read from the client / the origin, not yet decoded.
    pub cin: BytesMut,
    pub oin: BytesMut,
    /// Bytes to write to the client / the origin.
    pub to_client: BytesMut,
    pub to_origin: BytesMut,
}

impl Pipes {
    /// Splits both connections; `cin`/`oin` hold what was read during the handshake.
    pub fn new(client: Stream, cin: BytesMut, origin: Stream, oin: BytesMut) -> Self {
        let (client_rd, client_wr) = split(client);
        let (origin_rd, origin_wr) = split(origin);
        Self {
            client_rd,
            client_wr,
            origin_rd,
            origin_wr,
            cin,
            oin,
            to_client: BytesMut::with_capacity(16 * 1024),
            to_origin: BytesMut::with_capacity(4 * 1024),
        }
    }

    /// Waits until the client or the origin sends something and appends it to `cin` or
    /// `oin`; returns which side and how many bytes (0: that side closed).
    pub async fn read_either(&mut self) -> Result<(Side, usize), IoFailure> {
        let (side, read) = tokio::select! {
            n = self.client_rd.read_buf(&mut self.cin) => (Side::Client, n),
            n = self.origin_rd.read_buf(&mut self.oin) => (Side::Origin, n),
        };
        read.map(|n| (side, n))
            .map_err(|source| IoFailure { side, source })
    }

    /// Sends `bytes` to the origin now, past the output buffer (a query of
    /// wirecache's own while nothing else is in flight).
    pub async fn send_to_origin(&mut self, bytes: &[u8]) -> Result<(), IoFailure> {
        write_out(&mut self.origin_wr, bytes)
            .await
            .map_err(|source| IoFailure {
                side: Side::Origin,
                source,
            })
    }

    /// Waits for more bytes from the origin alone; a closed origin is an error.
    pub async fn read_origin(&mut self) -> Result<(), super::SessionError> {
        let n = self
            .origin_rd
            .read_buf(&mut self.oin)
            .await
            .map_err(|source| IoFailure {
                side: Side::Origin,
                source,
            })?;
        if n == 0 {
            return Err(super::SessionError::Closed(Side::Origin));
        }
        Ok(())
    }

    /// Writes out both output buffers, origin first.
    pub async fn flush(&mut self) -> Result<(), IoFailure> {
        if !self.to_origin.is_empty() {
            write_out(&mut self.origin_wr, &self.to_origin)
                .await
                .map_err(|source| IoFailure {
                    side: Side::Origin,
                    source,
                })?;
            self.to_origin.clear();
        }
        if !self.to_client.is_empty() {
            write_out(&mut self.client_wr, &self.to_client)
                .await
                .map_err(|source| IoFailure {
                    side: Side::Client,
                    source,
                })?;
            self.to_client.clear();
        }
        Ok(())
    }
}

/// Writes `bytes` and, for TLS, flushes the records still buffered (a plaintext
/// socket's flush does nothing).
pub async fn write_out(w: &mut WriteHalf, bytes: &[u8]) -> std::io::Result<()> {
    w.write_all(bytes).await?;
    if matches!(w, WriteHalf::Tls(_)) {
        w.flush().await?;
    }
    Ok(())
}
