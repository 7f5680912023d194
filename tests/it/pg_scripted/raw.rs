//! A raw PostgreSQL frontend: it writes exact message sequences and reads the answers
//! as tagged messages. Every read has a deadline: a proxy that leaves the client
//! waiting makes the test fail with what arrived so far, never stall.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long one expected answer may take before the test calls it a hang.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

/// One backend message: its tag and body.
#[derive(Debug, Clone)]
pub struct Msg {
    pub tag: u8,
    pub body: Vec<u8>,
}

impl Msg {
    /// The SQLSTATE of an ErrorResponse or NoticeResponse.
    pub fn sqlstate(&self) -> Option<String> {
        self.field(b'C')
    }

    /// One field (`C`, `M`, …) of an ErrorResponse or NoticeResponse.
    pub fn field(&self, code: u8) -> Option<String> {
        let mut rest = self.body.as_slice();
        while let Some((&f, tail)) = rest.split_first() {
            if f == 0 {
                return None;
            }
            let end = tail.iter().position(|b| *b == 0)?;
            if f == code {
                return Some(String::from_utf8_lossy(&tail[..end]).into_owned());
            }
            rest = &tail[end + 1..];
        }
        None
    }

    /// The text of each column of a DataRow (`None` for NULL).
    pub fn columns(&self) -> Vec<Option<String>> {
        let b = &self.body;
        let n = i16::from_be_bytes([b[0], b[1]]) as usize;
        let mut at = 2;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let len = i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
            at += 4;
            if len < 0 {
                out.push(None);
            } else {
                let len = len as usize;
                out.push(Some(String::from_utf8_lossy(&b[at..at + len]).into_owned()));
                at += len;
            }
        }
        out
    }

    /// The NUL-terminated string a CommandComplete carries.
    pub fn text(&self) -> String {
        let end = self
            .body
            .iter()
            .position(|b| *b == 0)
            .unwrap_or(self.body.len());
        String::from_utf8_lossy(&self.body[..end]).into_owned()
    }
}

/// The tags of `msgs` as a string (`"12DCZ"`), notices and parameter statuses left out.
pub fn tags(msgs: &[Msg]) -> String {
    msgs.iter()
        .filter(|m| !matches!(m.tag, b'N' | b'S' | b'A'))
        .map(|m| m.tag as char)
        .collect()
}

/// A logged-in raw connection.
pub struct Raw {
    stream: TcpStream,
    out: Vec<u8>,
    input: Vec<u8>,
    /// The process ID and secret key of the BackendKeyData received at login.
    pub pid: i32,
    pub secret: i32,
    /// Everything received since the last complete answer, for failure messages.
    seen: Vec<Msg>,
    /// `user@address`, to tell the direct and the proxied connection apart in failures.
    who: String,
}

impl Raw {
    /// Connects to `addr` and logs in as `user` (trust) with extra startup parameters.
    pub async fn login(addr: SocketAddr, user: &str, db: &str, extra: &[(&str, &str)]) -> Raw {
        Raw::start(addr, user, db, extra, None).await
    }

    /// Connects to `addr` and logs in as `user` with `password` (SCRAM-SHA-256).
    pub async fn login_password(addr: SocketAddr, user: &str, password: &str, db: &str) -> Raw {
        Raw::start(addr, user, db, &[], Some(password)).await
    }

    async fn start(
        addr: SocketAddr,
        user: &str,
        db: &str,
        extra: &[(&str, &str)],
        password: Option<&str>,
    ) -> Raw {
        let stream = TcpStream::connect(addr).await.expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        let mut raw = Raw {
            stream,
            out: Vec::new(),
            input: Vec::new(),
            pid: 0,
            secret: 0,
            seen: Vec::new(),
            who: format!("{user}@{addr}"),
        };
        let mut body = 196608i32.to_be_bytes().to_vec();
        for (k, v) in [("user", user), ("database", db)].iter().chain(extra) {
            cstr(&mut body, k.as_bytes());
            cstr(&mut body, v.as_bytes());
        }
        body.push(0);
        let mut packet = ((body.len() + 4) as i32).to_be_bytes().to_vec();
        packet.extend_from_slice(&body);
        raw.stream.write_all(&packet).await.expect("send startup");
        if let Some(password) = password {
            raw.scram(password).await;
        }
        let msgs = raw.until(b'Z').await;
        let key = msgs
            .iter()
            .find(|m| m.tag == b'K')
            .unwrap_or_else(|| panic!("no BackendKeyData at login: {}", tags(&msgs)));
        let b = &key.body;
        raw.pid = i32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        raw.secret = i32::from_be_bytes([b[4], b[5], b[6], b[7]]);
        raw
    }

    /// The SCRAM-SHA-256 exchange, up to AuthenticationOk.
    async fn scram(&mut self, password: &str) {
        let code = |m: &Msg| i32::from_be_bytes([m.body[0], m.body[1], m.body[2], m.body[3]]);
        let sasl = self.recv().await;
        assert_eq!((sasl.tag, code(&sasl)), (b'R', 10), "no SASL request");
        let scram = super::scram::Scram::new(password);
        let first = scram.first();
        let mut b = Vec::new();
        cstr(&mut b, b"SCRAM-SHA-256");
        b.extend_from_slice(&(first.len() as i32).to_be_bytes());
        b.extend_from_slice(first.as_bytes());
        self.msg(b'p', &b).send().await;
        let cont = self.recv().await;
        assert_eq!((cont.tag, code(&cont)), (b'R', 11), "no SASLContinue");
        let server_first = String::from_utf8_lossy(&cont.body[4..]).into_owned();
        let last = scram.last(&server_first);
        self.msg(b'p', last.as_bytes()).send().await;
        for want in [12, 0] {
            let m = self.recv().await;
            assert_eq!((m.tag, code(&m)), (b'R', want), "login: {:?}", m.sqlstate());
        }
    }

    fn msg(&mut self, tag: u8, body: &[u8]) -> &mut Self {
        self.out.push(tag);
        self.out
            .extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
        self.out.extend_from_slice(body);
        self
    }

    pub fn query(&mut self, sql: &str) -> &mut Self {
        let mut b = Vec::new();
        cstr(&mut b, sql.as_bytes());
        self.msg(b'Q', &b)
    }

    /// Parse with no parameter types.
    pub fn parse(&mut self, name: &str, sql: &str) -> &mut Self {
        let mut b = Vec::new();
        cstr(&mut b, name.as_bytes());
        cstr(&mut b, sql.as_bytes());
        b.extend_from_slice(&0i16.to_be_bytes());
        self.msg(b'P', &b)
    }

    /// Bind with text parameters and text results.
    pub fn bind(&mut self, portal: &str, stmt: &str, params: &[Option<&str>]) -> &mut Self {
        let mut b = Vec::new();
        cstr(&mut b, portal.as_bytes());
        cstr(&mut b, stmt.as_bytes());
        b.extend_from_slice(&0i16.to_be_bytes());
        b.extend_from_slice(&(params.len() as i16).to_be_bytes());
        for p in params {
            match p {
                Some(v) => {
                    b.extend_from_slice(&(v.len() as i32).to_be_bytes());
                    b.extend_from_slice(v.as_bytes());
                }
                None => b.extend_from_slice(&(-1i32).to_be_bytes()),
            }
        }
        b.extend_from_slice(&0i16.to_be_bytes());
        self.msg(b'B', &b)
    }

    /// Describe (`b'S'` statement or `b'P'` portal).
    pub fn describe(&mut self, kind: u8, name: &str) -> &mut Self {
        let mut b = vec![kind];
        cstr(&mut b, name.as_bytes());
        self.msg(b'D', &b)
    }

    pub fn close(&mut self, kind: u8, name: &str) -> &mut Self {
        let mut b = vec![kind];
        cstr(&mut b, name.as_bytes());
        self.msg(b'C', &b)
    }

    pub fn execute(&mut self, portal: &str, max_rows: i32) -> &mut Self {
        let mut b = Vec::new();
        cstr(&mut b, portal.as_bytes());
        b.extend_from_slice(&max_rows.to_be_bytes());
        self.msg(b'E', &b)
    }

    pub fn sync(&mut self) -> &mut Self {
        self.msg(b'S', &[])
    }

    pub fn flush(&mut self) -> &mut Self {
        self.msg(b'H', &[])
    }

    pub fn copy_data(&mut self, data: &[u8]) -> &mut Self {
        self.msg(b'd', data)
    }

    pub fn copy_done(&mut self) -> &mut Self {
        self.msg(b'c', &[])
    }

    pub fn copy_fail(&mut self, why: &str) -> &mut Self {
        let mut b = Vec::new();
        cstr(&mut b, why.as_bytes());
        self.msg(b'f', &b)
    }

    /// FunctionCall with text arguments and a text result.
    pub fn function_call(&mut self, oid: i32, args: &[&str]) -> &mut Self {
        let mut b = oid.to_be_bytes().to_vec();
        b.extend_from_slice(&0i16.to_be_bytes());
        b.extend_from_slice(&(args.len() as i16).to_be_bytes());
        for a in args {
            b.extend_from_slice(&(a.len() as i32).to_be_bytes());
            b.extend_from_slice(a.as_bytes());
        }
        b.extend_from_slice(&0i16.to_be_bytes());
        self.msg(b'F', &b)
    }

    /// Writes out everything queued so far, in one write.
    pub async fn send(&mut self) {
        let out = std::mem::take(&mut self.out);
        self.stream.write_all(&out).await.expect("send");
    }

    /// The next message; panics (with what came so far) after [`ANSWER_TIMEOUT`].
    pub async fn recv(&mut self) -> Msg {
        match tokio::time::timeout(ANSWER_TIMEOUT, self.read_msg()).await {
            Ok(Some(m)) => {
                self.seen.push(m.clone());
                m
            }
            Ok(None) => panic!(
                "{}: connection closed; got so far: {}",
                self.who,
                self.so_far()
            ),
            Err(_) => panic!(
                "{}: no answer within {ANSWER_TIMEOUT:?} (a hang); got so far: {}",
                self.who,
                self.so_far()
            ),
        }
    }

    /// The tags received since the last complete answer, with any error's text.
    fn so_far(&self) -> String {
        let mut s = tags(&self.seen);
        for e in self.seen.iter().filter(|m| m.tag == b'E') {
            s += &format!(" [{:?} {:?}]", e.sqlstate(), e.field(b'M'));
        }
        s
    }

    /// Messages up to and including the first with tag `last`.
    pub async fn until(&mut self, last: u8) -> Vec<Msg> {
        let mut msgs = Vec::new();
        loop {
            let m = self.recv().await;
            let done = m.tag == last;
            msgs.push(m);
            if done {
                self.seen.clear();
                return msgs;
            }
        }
    }

    /// Messages up to and including the `n`-th ReadyForQuery.
    pub async fn ready(&mut self, n: usize) -> Vec<Msg> {
        let mut msgs = Vec::new();
        for _ in 0..n {
            msgs.extend(self.until(b'Z').await);
        }
        msgs
    }

    /// Exactly `n` messages (notices and parameter statuses not counted).
    pub async fn take(&mut self, n: usize) -> Vec<Msg> {
        let mut msgs = Vec::new();
        while tags(&msgs).len() < n {
            msgs.push(self.recv().await);
        }
        self.seen.clear();
        msgs
    }

    /// The connection's end: true if wirecache closes it with no further message
    /// (within [`ANSWER_TIMEOUT`]); false if another message comes first.
    pub async fn closes(&mut self) -> bool {
        matches!(
            tokio::time::timeout(ANSWER_TIMEOUT, self.read_msg()).await,
            Ok(None)
        )
    }

    /// True if nothing at all arrives within `wait` (to check nothing extra is sent).
    pub async fn quiet_for(&mut self, wait: Duration) -> bool {
        tokio::time::timeout(wait, self.read_msg()).await.is_err()
    }

    /// A simple query's rows (first column), after which the session must be ready.
    pub async fn scalar(&mut self, sql: &str) -> Option<String> {
        self.query(sql).send().await;
        let msgs = self.until(b'Z').await;
        if let Some(e) = msgs.iter().find(|m| m.tag == b'E') {
            panic!("{sql}: {:?} {:?}", e.sqlstate(), e.field(b'M'));
        }
        msgs.iter()
            .find(|m| m.tag == b'D')
            .and_then(|m| m.columns().into_iter().next().flatten())
    }

    /// Closes the socket without a Terminate, as a killed client would.
    pub fn abort(self) {
        drop(self.stream);
    }

    async fn read_msg(&mut self) -> Option<Msg> {
        loop {
            if self.input.len() >= 5 {
                let len = i32::from_be_bytes([
                    self.input[1],
                    self.input[2],
                    self.input[3],
                    self.input[4],
                ]) as usize;
                if self.input.len() > len {
                    let rest = self.input.split_off(len + 1);
                    let whole = std::mem::replace(&mut self.input, rest);
                    return Some(Msg {
                        tag: whole[0],
                        body: whole[5..].to_vec(),
                    });
                }
            }
            let mut chunk = [0u8; 8192];
            let n = self.stream.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            self.input.extend_from_slice(&chunk[..n]);
        }
    }
}

fn cstr(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(s);
    out.push(0);
}
