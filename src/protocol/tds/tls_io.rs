//! The transport under TDS's TLS (MS-TDS 2.2.6.5, 3.3.5.x): while the handshake runs,
//! its bytes travel as the payload of PRELOGIN (0x12) packets; once it is done, TLS
//! records go on the TCP stream directly. [`PreloginIo`] is that transport, for either
//! side of a handshake: it unwraps the peer's packets ([`Unframer`], sans-I/O) and
//! wraps what TLS writes into packets until [`PreloginIo::passthrough`], then passes
//! bytes through. [`PreloginIo::into_parts`] gives the socket back (and any bytes read
//! ahead) when TLS ends after the login (login-only encryption).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::codec::{self, HEADER, Kind};

/// Bytes read from the socket at a time while unwrapping packets.
const READ_CHUNK: usize = 4096;
/// Packet size of wirecache's own handshake packets.
const PACKET: usize = codec::DEFAULT_PACKET;

/// Unwraps the payload of handshake packets from the bytes a peer sent.
#[derive(Debug)]
pub struct Unframer {
    /// Packet types the peer may wrap its handshake in.
    accept: &'static [u8],
    /// Payload bytes of the current packet not yet handed on.
    left: usize,
}

/// Why a peer's handshake packets were refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("a packet other than PRELOGIN during the TLS handshake")]
    Kind,
    #[error("a TDS packet length shorter than its header during the TLS handshake")]
    Length,
}

impl Unframer {
    /// Accepts packets of the types in `accept` (PRELOGIN from a client; PRELOGIN or
    /// tabular result from a server).
    pub fn new(accept: &'static [u8]) -> Self {
        Unframer { accept, left: 0 }
    }

    /// Moves payload bytes from the front of `raw` into `out`; returns how many. Zero
    /// means more bytes are needed (or `out` is empty). Headers are consumed as they
    /// complete, so `raw` never holds more than one partial header plus what was read.
    pub fn take(&mut self, raw: &mut BytesMut, out: &mut [u8]) -> Result<usize, FrameError> {
        let mut moved = 0;
        loop {
            if self.left == 0 {
                let Some(&[kind, _status, hi, lo, ..]) = raw.get(..HEADER) else {
                    return Ok(moved);
                };
                if !self.accept.contains(&kind) {
                    return Err(FrameError::Kind);
                }
                let len = usize::from(u16::from_be_bytes([hi, lo]));
                self.left = len.checked_sub(HEADER).ok_or(FrameError::Length)?;
                raw.advance(HEADER);
                continue;
            }
            let n = self.left.min(raw.len()).min(out.len() - moved);
            if n == 0 {
                return Ok(moved);
            }
            if let (Some(dst), Some(src)) = (out.get_mut(moved..moved + n), raw.get(..n)) {
                dst.copy_from_slice(src);
            }
            raw.advance(n);
            self.left -= n;
            moved += n;
        }
    }
}

/// A TCP connection that carries a TLS handshake inside PRELOGIN packets, then TLS
/// records as they are.
#[derive(Debug)]
pub struct PreloginIo {
    tcp: TcpStream,
    /// Still wrapping and unwrapping packets (the handshake is running).
    framing: bool,
    unframer: Unframer,
    /// Bytes read from the socket and not yet handed on.
    raw: BytesMut,
    /// Bytes TLS wrote since the last flush, to go out as one PRELOGIN message.
    pending: BytesMut,
    /// Packets ready to be written to the socket.
    out: BytesMut,
}

impl PreloginIo {
    /// Wraps `tcp`, whose peer may already have sent `read_ahead`, accepting handshake
    /// packets of the types in `accept`.
    pub fn new(tcp: TcpStream, read_ahead: BytesMut, accept: &'static [u8]) -> Self {
        PreloginIo {
            tcp,
            framing: true,
            unframer: Unframer::new(accept),
            raw: read_ahead,
            pending: BytesMut::new(),
            out: BytesMut::new(),
        }
    }

    /// From now on bytes pass through unwrapped (the handshake is done). Anything TLS
    /// wrote before still goes out in a packet.
    pub fn passthrough(&mut self) {
        self.frame_pending();
        self.framing = false;
    }

    /// The socket and the bytes read from it but not consumed.
    pub fn into_parts(self) -> (TcpStream, BytesMut) {
        (self.tcp, self.raw)
    }

    pub fn tcp(&self) -> &TcpStream {
        &self.tcp
    }

    fn frame_pending(&mut self) {
        if !self.pending.is_empty() {
            let payload = self.pending.split();
            codec::put_message(&mut self.out, Kind::PreLogin, 0, &payload, PACKET);
        }
    }

    /// Writes the packets in `out` to the socket.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.out.is_empty() {
            let n = ready!(Pin::new(&mut self.tcp).poll_write(cx, &self.out))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.out.advance(n);
        }
        Poll::Ready(Ok(()))
    }

    /// Reads more bytes from the socket into `raw`; `false` at its end.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<bool>> {
        let mut chunk = [0u8; READ_CHUNK];
        let mut rb = ReadBuf::new(&mut chunk);
        ready!(Pin::new(&mut self.tcp).poll_read(cx, &mut rb))?;
        self.raw.extend_from_slice(rb.filled());
        Poll::Ready(Ok(!rb.filled().is_empty()))
    }
}

impl AsyncRead for PreloginIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.framing {
            if this.raw.is_empty() {
                return Pin::new(&mut this.tcp).poll_read(cx, buf);
            }
            let n = this.raw.len().min(buf.remaining());
            buf.put_slice(this.raw.get(..n).unwrap_or_default());
            this.raw.advance(n);
            return Poll::Ready(Ok(()));
        }
        loop {
            let dst = buf.initialize_unfilled();
            if dst.is_empty() {
                return Poll::Ready(Ok(()));
            }
            let n = this
                .unframer
                .take(&mut this.raw, dst)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            if n > 0 {
                buf.advance(n);
                return Poll::Ready(Ok(()));
            }
            if !ready!(this.poll_fill(cx))? {
                // The peer's end: TLS reports the handshake cut short.
                return Poll::Ready(Ok(()));
            }
        }
    }
}

impl AsyncWrite for PreloginIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.framing {
            this.pending.extend_from_slice(buf);
            return Poll::Ready(Ok(buf.len()));
        }
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.tcp).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.framing {
            let mut n = 0;
            for b in bufs {
                this.pending.extend_from_slice(b);
                n += b.len();
            }
            return Poll::Ready(Ok(n));
        }
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.frame_pending();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.frame_pending();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.tcp).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRELOGIN: &[u8] = &[0x12];

    fn unwrap_all(wire: &[u8], cuts: &[usize]) -> Result<Vec<u8>, FrameError> {
        let mut u = Unframer::new(PRELOGIN);
        let mut raw = BytesMut::new();
        let mut got = Vec::new();
        let mut at = 0;
        for &cut in cuts.iter().chain(std::iter::once(&wire.len())) {
            raw.extend_from_slice(&wire[at..cut]);
            at = cut;
            let mut out = [0u8; 7];
            loop {
                let n = u.take(&mut raw, &mut out)?;
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&out[..n]);
            }
        }
        Ok(got)
    }

    #[test]
    fn payload_survives_packets_split_at_every_offset() {
        let payload: Vec<u8> = (0..9000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut wire = BytesMut::new();
        codec::put_message(&mut wire, Kind::PreLogin, 0, &payload[..5000], 512);
        codec::put_message(&mut wire, Kind::PreLogin, 0, &[], 512);
        codec::put_message(&mut wire, Kind::PreLogin, 0, &payload[5000..], 4096);
        assert_eq!(unwrap_all(&wire, &[]).unwrap(), payload);
        for cut in (0..wire.len()).step_by(3) {
            assert_eq!(unwrap_all(&wire, &[cut]).unwrap(), payload, "cut at {cut}");
        }
        let bytewise: Vec<usize> = (1..wire.len()).collect();
        assert_eq!(unwrap_all(&wire, &bytewise).unwrap(), payload);
    }

    #[tokio::test]
    async fn framed_while_handshaking_then_passed_through() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut peer = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (tcp, _) = listener.accept().await.unwrap();
        // The peer's packet arrives partly before the wrapper exists (read ahead).
        let wire = codec::message(Kind::PreLogin, b"hello", 512);
        let mut io = PreloginIo::new(tcp, BytesMut::from(&wire[..3]), PRELOGIN);
        peer.write_all(&wire[3..]).await.unwrap();
        let mut got = [0u8; 5];
        io.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"hello");
        io.write_all(b"ab").await.unwrap();
        io.write_all(b"cd").await.unwrap();
        io.flush().await.unwrap();
        let mut head = [0u8; 12];
        peer.read_exact(&mut head).await.unwrap();
        assert_eq!(&head[..], &codec::message(Kind::PreLogin, b"abcd", 512)[..]);
        io.passthrough();
        io.write_all(b"raw").await.unwrap();
        io.flush().await.unwrap();
        peer.write_all(b"back").await.unwrap();
        let mut three = [0u8; 3];
        peer.read_exact(&mut three).await.unwrap();
        assert_eq!(&three, b"raw");
        let mut four = [0u8; 4];
        io.read_exact(&mut four).await.unwrap();
        assert_eq!(&four, b"back");
        let (_tcp, rest) = io.into_parts();
        assert!(rest.is_empty());
    }

    #[test]
    fn wrong_kinds_and_lengths_are_errors() {
        let wrong_kind = codec::message(Kind::SqlBatch, b"abc", 512);
        assert_eq!(unwrap_all(&wrong_kind, &[]), Err(FrameError::Kind));
        let short = [0x12, 0x01, 0x00, 0x05, 0, 0, 0, 0, 1, 2];
        assert_eq!(unwrap_all(&short, &[]), Err(FrameError::Length));
        // A declared length longer than what comes: no error, just waiting for more.
        let long = [0x12, 0x01, 0xFF, 0xFF, 0, 0, 0, 0, 1, 2];
        assert_eq!(unwrap_all(&long, &[]), Ok(vec![1, 2]));
        for seed in 0..2000u32 {
            let bytes: Vec<u8> = (0..40)
                .map(|i| (seed.wrapping_mul(2654435761).rotate_left(i) & 0xFF) as u8)
                .collect();
            let _ = unwrap_all(&bytes, &[13]);
        }
    }
}
