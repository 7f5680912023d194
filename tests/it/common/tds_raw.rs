//! A raw TDS 7.4 client for the RPC tests: PRELOGIN and LOGIN7 through wirecache
//! (cache `sq`), hand-built RPC requests (procedure by ID or by name, INTN and
//! NVARCHAR parameters), SQLBatch payloads, and what the tests look for in an answer
//! (an ERROR token first, a text, the handle the test origin returns).

use bytes::{BufMut, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wirecache::protocol::Side;
use wirecache::protocol::tds::codec::{Assembler, Kind, Message, message};

use super::pg::password_for;
use super::proxy::{Protocol, Proxy};
use super::tds_origin::USER;

/// A raw TDS 7.4 connection that sends hand-built RPC requests.
pub struct Raw {
    pub s: TcpStream,
    buf: BytesMut,
}

pub fn utf16(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

/// A LOGIN7 payload (TDS 7.4) for `user` on `db`.
pub fn login7(user: &str, password: &str, db: &str) -> Vec<u8> {
    let pw: Vec<u8> = utf16(password)
        .into_iter()
        .map(|b| b.rotate_left(4) ^ 0xA5)
        .collect();
    let fields = [
        (36, utf16("h")),
        (40, utf16(user)),
        (44, pw),
        (68, utf16(db)),
    ];
    let mut p = vec![0u8; 94];
    p[4..8].copy_from_slice(&0x7400_0004u32.to_le_bytes());
    p[8..12].copy_from_slice(&4096u32.to_le_bytes());
    for off in [48, 52, 56, 60, 64, 78, 82, 86] {
        p[off..off + 2].copy_from_slice(&94u16.to_le_bytes());
    }
    for (off, data) in fields {
        let at = p.len() as u16;
        p[off..off + 2].copy_from_slice(&at.to_le_bytes());
        p[off + 2..off + 4].copy_from_slice(&((data.len() / 2) as u16).to_le_bytes());
        p.extend(data);
    }
    let len = p.len() as u32;
    p[..4].copy_from_slice(&len.to_le_bytes());
    p
}

impl Raw {
    pub async fn connect(proxy: &Proxy, db: &str) -> Raw {
        let s = TcpStream::connect(proxy.addr(Protocol::MsSql))
            .await
            .unwrap();
        let mut r = Raw {
            s,
            buf: BytesMut::new(),
        };
        let hello = wirecache::protocol::tds::prelogin::request();
        r.send(Kind::PreLogin, &hello).await;
        let l = login7(&format!("sq-{USER}"), &password_for(USER), db);
        r.send(Kind::Login7, &l).await;
        let ack = r.answer().await;
        assert!(ack.payload.contains(&0xAD), "LOGINACK");
        r
    }

    /// Sends a message; for a PRELOGIN, also reads its answer.
    pub async fn send(&mut self, kind: Kind, payload: &[u8]) {
        self.s
            .write_all(&message(kind, payload, 4096))
            .await
            .unwrap();
        if kind == Kind::PreLogin {
            self.answer().await;
        }
    }

    pub async fn answer(&mut self) -> Message {
        let mut asm = Assembler::new(Side::Origin, 1 << 24);
        loop {
            if let Some(m) = asm.next(&mut self.buf).unwrap() {
                return m;
            }
            let n = tokio::time::timeout(
                std::time::Duration::from_secs(10),
                self.s.read_buf(&mut self.buf),
            )
            .await
            .expect("an answer in time")
            .unwrap();
            assert!(n > 0, "closed");
        }
    }

    pub async fn rpc(&mut self, payload: &[u8]) -> Vec<u8> {
        self.send(Kind::Rpc, payload).await;
        self.answer().await.payload.to_vec()
    }
}

/// Hand-built RPC payloads: ALL_HEADERS, a procedure by ID, parameters.
pub struct Req(pub BytesMut);

impl Req {
    pub fn new(proc_id: u16) -> Req {
        let mut b = BytesMut::new();
        b.put_u32_le(22);
        b.put_u32_le(18);
        b.put_u16_le(2);
        b.put_u64_le(0);
        b.put_u32_le(1);
        b.put_u16_le(0xFFFF);
        b.put_u16_le(proc_id);
        b.put_u16_le(0);
        Req(b)
    }

    /// A call of a procedure by name.
    pub fn named(proc: &str) -> Req {
        let mut r = Req::new(0);
        r.0.truncate(22);
        r.0.put_u16_le(proc.encode_utf16().count() as u16);
        r.0.put_slice(&utf16(proc));
        r.0.put_u16_le(0);
        r
    }

    fn name(&mut self, name: &str, status: u8) {
        self.0.put_u8(name.encode_utf16().count() as u8);
        self.0.put_slice(&utf16(name));
        self.0.put_u8(status);
    }

    pub fn int(mut self, name: &str, v: Option<i32>, output: bool) -> Req {
        self.name(name, output as u8);
        self.0.put_slice(&[0x26, 4]);
        match v {
            Some(v) => {
                self.0.put_u8(4);
                self.0.put_i32_le(v);
            }
            None => self.0.put_u8(0),
        }
        self
    }

    pub fn text(mut self, name: &str, v: &str) -> Req {
        self.name(name, 0);
        self.0.put_slice(&[0xE7, 0x40, 0x1F, 9, 4, 0xD0, 0, 0x34]);
        let b = utf16(v);
        self.0.put_u16_le(b.len() as u16);
        self.0.put_slice(&b);
        self
    }
}

/// The handle in the test origin's answer to a prepare: its RETURNVALUE is the last
/// token before DONEPROC (13 bytes), and its value the last four bytes of it.
pub fn handle_of(answer: &[u8]) -> i32 {
    let end = answer.len() - 13;
    assert_eq!(answer[end], 0xFE, "DONEPROC last: {answer:?}");
    i32::from_le_bytes(answer[end - 4..end].try_into().unwrap())
}

pub fn has_text(answer: &[u8], text: &str) -> bool {
    let t = utf16(text);
    answer.windows(t.len()).any(|w| w == t)
}

pub fn is_error(answer: &[u8]) -> bool {
    answer.first() == Some(&0xAA)
}

/// A SQLBatch payload (TDS 7.4: ALL_HEADERS with no transaction).
pub fn batch(sql: &str) -> Vec<u8> {
    let mut p = Vec::new();
    p.extend(22u32.to_le_bytes());
    p.extend(18u32.to_le_bytes());
    p.extend(2u16.to_le_bytes());
    p.extend(0u64.to_le_bytes());
    p.extend(1u32.to_le_bytes());
    p.extend(utf16(sql));
    p
}
