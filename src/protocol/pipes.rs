//! What every proxied session has, whatever its protocol: its two ends (client and
//! origin), each a connection split into halves with a read buffer and an output
//! buffer that is written out in one go (so a burst of small messages costs one
//! system call).
//!
//! The origin's connection can be detached from its end (transaction pooling): the
//! end's buffers stay with the session while the connection goes back to a pool
//! between transactions, and a [`Lender`] attaches one again when bytes must reach
//! the origin.

use std::future::Future;
use std::pin::Pin;

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

/// One end of a proxied session: its connection split into halves, the bytes read
/// from it not yet decoded (`inbox`), and the bytes to write to it (`outbox`),
/// written out in one go.
pub struct End {
    /// The connection's halves; `None` while detached (see [`Lender`]).
    conn: Option<(ReadHalf, WriteHalf)>,
    side: Side,
    pub inbox: BytesMut,
    pub outbox: BytesMut,
}

impl End {
    fn new(stream: Stream, inbox: BytesMut, side: Side, out_capacity: usize) -> Self {
        End {
            conn: Some(split(stream)),
            side,
            inbox,
            outbox: BytesMut::with_capacity(out_capacity),
        }
    }

    fn failure(&self, source: std::io::Error) -> IoFailure {
        IoFailure {
            side: self.side,
            source,
        }
    }

    fn detached_failure(&self) -> IoFailure {
        self.failure(std::io::ErrorKind::NotConnected.into())
    }

    /// Its connection is attached (not lent back to a pool).
    pub fn attached(&self) -> bool {
        self.conn.is_some()
    }

    /// Takes the connection out, as an end of its own with empty buffers; `None` if
    /// already detached or if bytes are still buffered either way (a connection only
    /// leaves in a clean state).
    pub fn detach(&mut self) -> Option<End> {
        if !self.inbox.is_empty() || !self.outbox.is_empty() {
            return None;
        }
        let conn = self.conn.take()?;
        Some(End {
            conn: Some(conn),
            side: self.side,
            inbox: BytesMut::new(),
            outbox: BytesMut::with_capacity(4 * 1024),
        })
    }

    /// Takes `other`'s connection (and anything it has read) as this end's own.
    pub fn attach(&mut self, mut other: End) {
        self.inbox.extend_from_slice(&other.inbox);
        self.conn = other.conn.take();
    }

    /// An origin end with no connection attached yet (transaction pooling).
    pub fn detached_origin() -> Self {
        End {
            conn: None,
            side: Side::Origin,
            inbox: BytesMut::new(),
            outbox: BytesMut::with_capacity(4 * 1024),
        }
    }

    /// An origin connection's end, for a pool to keep between sessions.
    pub fn for_origin(stream: Stream, inbox: BytesMut) -> Self {
        End::new(stream, inbox, Side::Origin, 4 * 1024)
    }

    /// False if the peer has closed this connection or sent bytes nobody asked for
    /// (checked without waiting: a plain socket is peeked at; a TLS connection is
    /// polled for a record once, and any record, such as an origin's FATAL on
    /// shutdown, means it cannot be used).
    pub fn alive(&mut self) -> bool {
        if !self.inbox.is_empty() || !self.outbox.is_empty() {
            return false;
        }
        let Some((rd, _)) = &mut self.conn else {
            return false;
        };
        let mut byte = [0u8; 1];
        let mut buf = tokio::io::ReadBuf::new(&mut byte);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        let polled = match rd {
            ReadHalf::Tcp(tcp) => tcp.poll_peek(&mut cx, &mut buf).map_ok(|_| ()),
            ReadHalf::Tls(_) => tokio::io::AsyncRead::poll_read(Pin::new(rd), &mut cx, &mut buf),
        };
        matches!(polled, std::task::Poll::Pending)
    }

    /// Reads what arrives into `inbox`; 0: this end closed.
    pub async fn read(&mut self) -> Result<usize, IoFailure> {
        let Some((rd, _)) = &mut self.conn else {
            return Err(self.detached_failure());
        };
        let n = rd.read_buf(&mut self.inbox).await;
        n.map_err(|e| self.failure(e))
    }

    /// Writes `bytes` now, past the outbox.
    pub async fn send(&mut self, bytes: &[u8]) -> Result<(), IoFailure> {
        let Some((_, wr)) = &mut self.conn else {
            return Err(self.detached_failure());
        };
        let sent = write_out(wr, bytes).await;
        sent.map_err(|e| self.failure(e))
    }

    /// Writes out the outbox.
    pub async fn flush(&mut self) -> Result<(), IoFailure> {
        if self.outbox.is_empty() {
            return Ok(());
        }
        let Some((_, wr)) = &mut self.conn else {
            return Err(self.detached_failure());
        };
        let sent = write_out(wr, &self.outbox).await;
        sent.map_err(|e| self.failure(e))?;
        self.outbox.clear();
        Ok(())
    }
}

/// A future a [`Lender`] returns.
pub type LendFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where a session's origin connections come from when they are leased per
/// transaction: the protocol's pool. `lease` returns a connection in the state the
/// session expects (its settings replayed); `release` takes one back, clean and idle.
pub trait Lender: Send + std::any::Any {
    fn lease(&mut self) -> LendFuture<'_, Result<End, IoFailure>>;
    fn release(&mut self, conn: End) -> LendFuture<'_, ()>;
    /// For the protocol to reach its own lender's state.
    fn as_any(&mut self) -> &mut dyn std::any::Any;
}

/// Both ends of a session. The origin's end is apart from the client's so that a
/// pooled mode can lend a session an origin connection per transaction.
pub struct Pipes {
    pub client: End,
    pub origin: End,
    /// The origin connection was lost and the session goes on without it: nothing is
    /// read from or written to it any more.
    origin_lost: bool,
    /// Transaction pooling: attaches an origin connection when one is needed.
    lender: Option<Box<dyn Lender>>,
}

impl Pipes {
    /// Splits both connections; `cin`/`oin` hold what was read during the handshake.
    pub fn new(client: Stream, cin: BytesMut, origin: Stream, oin: BytesMut) -> Self {
        Self {
            client: End::new(client, cin, Side::Client, 16 * 1024),
            origin: End::new(origin, oin, Side::Origin, 4 * 1024),
            origin_lost: false,
            lender: None,
        }
    }

    /// Both ends, the origin's already split (an origin connection from a pool).
    pub fn with_origin(client: Stream, cin: BytesMut, origin: End) -> Self {
        Self {
            client: End::new(client, cin, Side::Client, 16 * 1024),
            origin,
            origin_lost: false,
            lender: None,
        }
    }

    /// Leases origin connections per transaction from `lender` from now on.
    pub fn lend_from(&mut self, lender: Box<dyn Lender>) {
        self.lender = Some(lender);
    }

    pub fn lender(&mut self) -> Option<&mut (dyn Lender + 'static)> {
        self.lender.as_deref_mut()
    }

    /// The lender, once the session is over.
    pub fn take_lender(&mut self) -> Option<Box<dyn Lender>> {
        self.lender.take()
    }

    /// An origin connection is attached (always, without a lender, until lost).
    pub fn origin_attached(&self) -> bool {
        self.origin.attached()
    }

    /// Attaches a leased origin connection if none is (and the session has a
    /// lender and its origin).
    pub async fn ensure_origin(&mut self) -> Result<(), IoFailure> {
        if self.origin_lost || self.origin.attached() {
            return Ok(());
        }
        let Some(lender) = self.lender.as_deref_mut() else {
            return Err(self.origin.detached_failure());
        };
        let conn = lender.lease().await?;
        self.origin.attach(conn);
        Ok(())
    }

    /// Gives the origin connection back to the lender (the caller checked the
    /// session is idle at the origin); false if it could not leave (bytes buffered,
    /// no lender).
    pub async fn release_origin(&mut self) -> bool {
        let Some(lender) = self.lender.as_deref_mut() else {
            return false;
        };
        let Some(conn) = self.origin.detach() else {
            return false;
        };
        lender.release(conn).await;
        true
    }

    /// The origin's end, to give back to its pool; `None` if it was lost.
    pub fn into_origin(self) -> Option<End> {
        (!self.origin_lost).then_some(self.origin)
    }

    /// The session goes on without its origin connection (see `session::outage`).
    pub fn lose_origin(&mut self) {
        self.origin_lost = true;
        self.origin.inbox.clear();
        self.origin.outbox.clear();
    }

    pub fn origin_lost(&self) -> bool {
        self.origin_lost
    }

    /// The origin is reachable again and the session leases its connections
    /// (transaction pooling): the lost connection is dropped, and the next one is
    /// leased when bytes must reach the origin.
    pub fn regain_origin(&mut self) {
        self.origin_lost = false;
        self.origin.inbox.clear();
        self.origin.outbox.clear();
        self.origin.conn = None;
    }

    /// Waits until the client or the origin sends something and appends it to its
    /// inbox; returns which side and how many bytes (0: that side closed).
    pub async fn read_either(&mut self) -> Result<(Side, usize), IoFailure> {
        if self.origin_lost || !self.origin.attached() {
            return self.client.read().await.map(|n| (Side::Client, n));
        }
        // Origin first (`biased`: no random number per wake-up): its answers are
        // passed on before more requests are taken, and a client that keeps
        // sending cannot starve them.
        tokio::select! {
            biased;
            n = self.origin.read() => n.map(|n| (Side::Origin, n)),
            n = self.client.read() => n.map(|n| (Side::Client, n)),
        }
    }

    /// Sends `bytes` to the origin now, past its outbox (a query of wirecache's own
    /// while nothing else is in flight).
    pub async fn send_to_origin(&mut self, bytes: &[u8]) -> Result<(), IoFailure> {
        if self.origin_lost {
            return Err(self.origin.failure(std::io::ErrorKind::NotConnected.into()));
        }
        self.ensure_origin().await?;
        self.origin.send(bytes).await
    }

    /// Waits for more bytes from the origin alone; a closed origin is an error.
    pub async fn read_origin(&mut self) -> Result<(), super::SessionError> {
        if self.origin_lost || self.origin.read().await? == 0 {
            return Err(super::SessionError::Closed(Side::Origin));
        }
        Ok(())
    }

    /// Writes out both outboxes, origin first.
    pub async fn flush(&mut self) -> Result<(), IoFailure> {
        if self.origin_lost {
            // Requests forwarded meanwhile are answered by the session itself.
            self.origin.outbox.clear();
        } else if !self.origin.outbox.is_empty() {
            self.ensure_origin().await?;
            self.origin.flush().await?;
        }
        self.client.flush().await
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
