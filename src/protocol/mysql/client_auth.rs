//! Pooled mode's check of a client's login, done by wirecache itself against the
//! stored [`Login`] (no origin connection is involved):
//!
//! - `mysql_native_password`: the token is checked against `SHA1(SHA1(password))`.
//! - `caching_sha2_password` with a stored password: the fast path (the 20-byte
//!   scramble), then `fast_auth_success` and OK.
//! - `caching_sha2_password` with a stored `*HEX` hash (no fast path possible): over
//!   TLS, full authentication (the client sends its password in clear over TLS);
//!   without TLS, an AuthSwitchRequest to `mysql_native_password`, which is the
//!   plugin such a user has on the server anyway. The RSA public-key exchange is never
//!   offered, so no password crosses a plaintext leg in any form a listener can replay.
//! - any other plugin a client starts with (ed25519, sha256_password, dialog, …): an
//!   AuthSwitchRequest, with a fresh scramble, to the listener's default plugin
//!   (`mysql_native_password` for a `*HEX` hash).
//!
//! An unknown user is checked against a login nobody can pass, so it gets the same
//! exchange and the same ERR 1045 as a wrong password.

use bytes::BytesMut;

use super::errors::{ER_ACCESS_DENIED, MyError, Side, err_packet};
use super::handshake::{CLIENT_PLUGIN_AUTH, Response};
use super::pooled_logins::Login;
use super::scramble;
use super::startup::read_packet;
use super::tls::write;
use crate::protocol::End;
use crate::server::stream::Stream;

pub const NATIVE: &[u8] = b"mysql_native_password";
pub const SHA2: &[u8] = b"caching_sha2_password";

/// caching_sha2_password's AuthMoreData statuses.
const FAST_AUTH_SUCCESS: u8 = 3;
const PERFORM_FULL_AUTH: u8 = 4;

/// The plugins wirecache checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plugin {
    Native,
    Sha2,
}

impl Plugin {
    pub fn name(self) -> &'static [u8] {
        match self {
            Plugin::Native => NATIVE,
            Plugin::Sha2 => SHA2,
        }
    }
}

/// Where the client is: its stream during the login, its session end at
/// COM_CHANGE_USER.
pub enum ClientIo<'a> {
    Login(&'a mut Stream, &'a mut BytesMut),
    Session(&'a mut End),
}

/// The client's side of a login in progress: its connection and the next sequence id.
pub struct Exchange<'a> {
    pub client: ClientIo<'a>,
    /// Sequence id of wirecache's next packet.
    pub seq: u8,
    /// The client's leg is TLS.
    pub tls: bool,
}

impl Exchange<'_> {
    /// Sends `payload` as wirecache's next packet.
    pub async fn send(&mut self, payload: &[u8]) -> Result<(), MyError> {
        let p = super::codec::packet(self.seq, payload);
        match &mut self.client {
            ClientIo::Login(stream, _) => write(stream, &p, Side::Client).await?,
            ClientIo::Session(end) => end.send(&p).await?,
        }
        self.seq = self.seq.wrapping_add(1);
        Ok(())
    }

    async fn receive(&mut self) -> Result<Vec<u8>, MyError> {
        let p = match &mut self.client {
            ClientIo::Login(stream, buf) => read_packet(stream, buf, Side::Client).await?,
            ClientIo::Session(end) => loop {
                if let Some(p) = super::codec::decode(&mut end.inbox)? {
                    break p;
                }
                if end.read().await? == 0 {
                    return Err(MyError::Closed(Side::Client));
                }
            },
        };
        if p.seq() != self.seq {
            return Err(MyError::Client("auth packet out of sequence"));
        }
        self.seq = self.seq.wrapping_add(1);
        Ok(p.payload().to_vec())
    }

    /// Asks the client to answer `plugin` with a fresh scramble; returns its answer
    /// and the scramble.
    async fn switch(&mut self, plugin: Plugin) -> Result<(Vec<u8>, Vec<u8>), MyError> {
        let nonce = scramble::random_scramble();
        let mut p = Vec::with_capacity(48);
        p.push(0xFE);
        p.extend_from_slice(plugin.name());
        p.push(0);
        p.extend_from_slice(&nonce);
        p.push(0);
        self.send(&p).await?;
        Ok((self.receive().await?, nonce))
    }
}

/// How a login was checked, for the log (never the secret).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checked {
    Native,
    Sha2Fast,
    Sha2Full,
}

/// Checks the client's login: `resp` answered a greeting with `greeting_scramble`
/// naming the plugin `default`.
/// On success, the exchange is ready for the OK (its `seq`). On failure the client
/// has been sent ERR 1045, and the error is [`MyError::AuthRejected`].
pub async fn check(
    ex: &mut Exchange<'_>,
    resp: &Response,
    greeting_scramble: &[u8],
    login: Option<&Login>,
    (user, default, all_passwords): (&str, Plugin, bool),
) -> Result<Checked, MyError> {
    let nobody;
    let login = match login {
        Some(l) => l,
        None => {
            nobody = Login::nobody();
            &nobody
        }
    };
    let (plugin, token, nonce) =
        answer(ex, resp, greeting_scramble, (default, all_passwords)).await?;
    let checked = match plugin {
        Plugin::Native => login
            .check_native(&nonce, &token)
            .then_some(Checked::Native),
        Plugin::Sha2 => sha2(ex, login, (&nonce, &token), all_passwords).await?,
    };
    match checked {
        Some(c) => Ok(c),
        None => {
            let using = if token.is_empty() { "NO" } else { "YES" };
            let message = format!("Access denied for user '{user}' (using password: {using})");
            let err = err_packet(ex.seq, ER_ACCESS_DENIED, "28000", &message);
            ex.send(err.get(4..).unwrap_or_default()).await?;
            Err(MyError::AuthRejected)
        }
    }
}

/// The plugin the client's login is checked with, its token and the scramble it
/// signed: the first answer as it is, or the answer to one AuthSwitchRequest.
async fn answer(
    ex: &mut Exchange<'_>,
    resp: &Response,
    greeting_scramble: &[u8],
    (default, all_passwords): (Plugin, bool),
) -> Result<(Plugin, Vec<u8>, Vec<u8>), MyError> {
    let started = match resp.auth_plugin.as_deref() {
        Some(NATIVE) => Some(Plugin::Native),
        Some(SHA2) => Some(Plugin::Sha2),
        None if resp.capabilities & CLIENT_PLUGIN_AUTH == 0 => Some(Plugin::Native),
        _ => None,
    };
    let tls = ex.tls;
    // caching_sha2_password with only a hash stored works over TLS only. Whether a
    // plaintext client keeps it depends on the whole list, never on this login, so
    // the exchange does not tell a hash-only user from an unknown one.
    let sha2_ok = all_passwords || tls;
    Ok(match started {
        // A client whose plugin is not the greeting's had no scramble for it: it sends
        // no data and expects a switch to its own plugin (libmariadb's --default-auth).
        Some(p) if p != default && resp.auth.is_empty() => {
            let to = if p == Plugin::Sha2 && !sha2_ok {
                Plugin::Native
            } else {
                p
            };
            let (token, nonce) = ex.switch(to).await?;
            (to, token, nonce)
        }
        Some(Plugin::Native) => (
            Plugin::Native,
            resp.auth.clone(),
            greeting_scramble.to_vec(),
        ),
        Some(Plugin::Sha2) if sha2_ok => {
            (Plugin::Sha2, resp.auth.clone(), greeting_scramble.to_vec())
        }
        _ => {
            let to = if sha2_ok { default } else { Plugin::Native };
            let (token, nonce) = ex.switch(to).await?;
            (to, token, nonce)
        }
    })
}

/// caching_sha2_password after the client's token: the fast path when every login
/// stores a password, else full authentication for every user alike (over TLS only:
/// `answer` switched a plaintext client to mysql_native_password), so the exchange
/// does not tell a hash-only user from a password user or an unknown one.
async fn sha2(
    ex: &mut Exchange<'_>,
    login: &Login,
    (nonce, token): (&[u8], &[u8]),
    all_passwords: bool,
) -> Result<Option<Checked>, MyError> {
    if all_passwords {
        if !login.check_sha2(nonce, token) {
            return Ok(None);
        }
        if !token.is_empty() {
            ex.send(&[0x01, FAST_AUTH_SUCCESS]).await?;
        }
        return Ok(Some(Checked::Sha2Fast));
    }
    if !ex.tls {
        return Ok(None);
    }
    ex.send(&[0x01, PERFORM_FULL_AUTH]).await?;
    let answer = ex.receive().await?;
    // A request for the server's RSA key (2) is never honoured: over TLS the client
    // sends its password in clear.
    let password = answer.strip_suffix(&[0]).unwrap_or(&answer);
    Ok(login.check_cleartext(password).then_some(Checked::Sha2Full))
}
