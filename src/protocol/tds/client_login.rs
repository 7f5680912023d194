//! A LOGIN7 built from scratch (MS-TDS 2.2.6.4) for wirecache's own TDS client
//! (`client`): SQL Server authentication with a login name and password, a database,
//! an application name; no SSPI, no FeatureExt. The password is obfuscated as LOGIN7
//! requires (each byte's nibbles swapped, then XOR 0xA5) — not a secret's protection,
//! which is why the client should encrypt at least the login.

use super::client::ClientError;
use super::types::to_utf16;

/// What a client logs in with.
#[derive(Clone, Copy)]
pub struct Credentials<'a> {
    pub user: &'a str,
    pub password: &'a str,
    /// The initial database; empty: the login's default.
    pub database: &'a str,
    pub app: &'a str,
}

impl std::fmt::Debug for Credentials<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("database", &self.database)
            .field("app", &self.app)
            .finish_non_exhaustive()
    }
}

/// The fixed part of a TDS 7.2+ LOGIN7.
const FIXED: usize = 94;
/// SQL Server's limit on names and passwords, in UTF-16 units.
const MAX_NAME: usize = 128;
/// OptionFlags1: USE_DB_ON, INIT_DB_FATAL, SET_LANG_ON.
const FLAGS1: u8 = 0xE0;
/// OptionFlags2: INIT_LANG_FATAL, ODBC_ON.
const FLAGS2: u8 = 0x03;
/// Where the ClientID (six bytes) sits, between Database and SSPI.
const CLIENT_ID: usize = 72;
/// Where cbSSPILong sits, the last fixed field.
const SSPI_LONG: usize = 90;

/// The password as LOGIN7 carries it: UTF-16LE, each byte's nibbles swapped, XOR 0xA5.
pub fn obfuscate(password: &str) -> Vec<u8> {
    to_utf16(password)
        .into_iter()
        .map(|b| b.rotate_left(4) ^ 0xA5)
        .collect()
}

/// A LOGIN7 payload for `creds` at TDS `version`, asking for `packet_size`.
pub fn login7(
    creds: &Credentials<'_>,
    version: u32,
    packet_size: usize,
) -> Result<Vec<u8>, ClientError> {
    for text in [creds.user, creds.password, creds.database, creds.app] {
        if text.encode_utf16().count() > MAX_NAME {
            return Err(ClientError::Usage(
                "a login name, password, database or application name over 128 characters",
            ));
        }
    }
    let host = to_utf16("wirecache");
    // (offset field, data, length counted in UTF-16 units rather than bytes), in the
    // order their data follows the fixed part.
    let fields: [(usize, Vec<u8>, bool); 12] = [
        (36, host.clone(), true),              // HostName
        (40, to_utf16(creds.user), true),      // UserName
        (44, obfuscate(creds.password), true), // Password
        (48, to_utf16(creds.app), true),       // AppName
        (52, Vec::new(), true),                // ServerName
        (56, Vec::new(), false),               // Extension
        (60, host, true),                      // CltIntName
        (64, Vec::new(), true),                // Language
        (68, to_utf16(creds.database), true),  // Database
        (78, Vec::new(), false),               // SSPI
        (82, Vec::new(), true),                // AtchDBFile
        (86, Vec::new(), true),                // ChangePassword
    ];
    let mut out = vec![0u8; FIXED];
    put(&mut out, 4, &version.to_le_bytes());
    let size = u32::try_from(packet_size).unwrap_or(4096);
    put(&mut out, 8, &size.to_le_bytes());
    put(&mut out, 16, &std::process::id().to_le_bytes());
    put(&mut out, 24, &[FLAGS1, FLAGS2, 0, 0]);
    // LCID 0x0409 (us_english), as drivers send by default.
    put(&mut out, 32, &0x0409u32.to_le_bytes());
    put(&mut out, CLIENT_ID, &[0; 6]);
    put(&mut out, SSPI_LONG, &[0; 4]);
    for (at, data, units) in fields {
        let offset = u16::try_from(out.len()).map_err(|_| too_long())?;
        let len = if units { data.len() / 2 } else { data.len() };
        let len = u16::try_from(len).map_err(|_| too_long())?;
        put(&mut out, at, &offset.to_le_bytes());
        put(&mut out, at + 2, &len.to_le_bytes());
        out.extend_from_slice(&data);
    }
    let total = u32::try_from(out.len()).map_err(|_| too_long())?;
    put(&mut out, 0, &total.to_le_bytes());
    Ok(out)
}

fn too_long() -> ClientError {
    ClientError::Usage("LOGIN7 too long")
}

/// Writes `bytes` at `at` of the fixed part (which is always long enough).
fn put(out: &mut [u8], at: usize, bytes: &[u8]) {
    if let Some(dst) = out.get_mut(at..at + bytes.len()) {
        dst.copy_from_slice(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::tds::login::Login;
    use crate::protocol::tds::types::utf16;

    fn field(p: &[u8], at: usize) -> &[u8] {
        let off = u16::from_le_bytes([p[at], p[at + 1]]) as usize;
        let len = u16::from_le_bytes([p[at + 2], p[at + 3]]) as usize * 2;
        &p[off..off + len]
    }

    #[test]
    fn the_login_parses_back_and_the_password_is_obfuscated() {
        let creds = Credentials {
            user: "sq-app",
            password: "pä$$word",
            database: "shop",
            app: "latency-test",
        };
        let p = login7(&creds, 0x7400_0004, 8192).unwrap();
        let login = Login::parse(&p).unwrap();
        assert_eq!(login.user, "sq-app");
        assert_eq!(login.database, "shop");
        assert_eq!(login.tds_version, 0x7400_0004);
        assert_eq!(login.packet_size, 8192);
        assert_eq!(login.lcid, 0x0409);
        // The server's de-obfuscation gives the password back; the clear text is not
        // on the wire.
        let wire = field(&p, 44);
        let clear: Vec<u8> = wire.iter().map(|b| (b ^ 0xA5).rotate_left(4)).collect();
        assert_eq!(utf16(&clear), "pä$$word");
        assert!(!p.windows(clear.len()).any(|w| w == clear.as_slice()));
        // The rewritten login (cache ID stripped) is still well formed.
        let rewritten = Login::parse(&login.with_user("app").unwrap()).unwrap();
        assert_eq!(rewritten.user, "app");
        assert_eq!(rewritten.database, "shop");
    }

    #[test]
    fn over_long_fields_are_refused() {
        let long = "x".repeat(129);
        let creds = Credentials {
            user: &long,
            password: "",
            database: "",
            app: "",
        };
        assert!(matches!(
            login7(&creds, 0x7400_0004, 4096),
            Err(ClientError::Usage(_))
        ));
        let debug = format!(
            "{:?}",
            Credentials {
                user: "u",
                password: "hush",
                database: "d",
                app: "a"
            }
        );
        assert!(!debug.contains("hush"), "{debug}");
    }
}
