//! LOGIN7 (MS-TDS 2.2.6.4): the fields wirecache reads (login name, database, packet
//! size, how the client authenticates) and the one it changes: the login name loses
//! its cache ID, and every offset after it, the total length and the FeatureExt
//! pointer are recomputed. The password (obfuscated, not hashed) is carried over
//! byte for byte, never decoded, logged or kept.

use super::types::{Reader, utf16};

/// The first TDS version whose requests carry ALL_HEADERS (7.2).
pub const TDS_72: u32 = 0x7209_0002;

/// The fixed part of LOGIN7, before its variable data (TDS 7.2 and later; 7.0 and 7.1
/// end it before ChangePassword and cbSSPILong).
const FIXED: usize = 94;
const FIXED_71: usize = 86;
/// (offset field, length field, length in UTF-16 units rather than bytes).
const FIELDS: [(usize, bool); 12] = [
    (36, true),  // HostName
    (40, true),  // UserName
    (44, true),  // Password
    (48, true),  // AppName
    (52, true),  // ServerName
    (56, false), // Extension (bytes)
    (60, true),  // CltIntName
    (64, true),  // Language
    (68, true),  // Database
    (78, false), // SSPI (bytes)
    (82, true),  // AtchDBFile
    (86, true),  // ChangePassword
];
const USER: usize = 40;
const DATABASE: usize = 68;
const EXTENSION: usize = 56;
const SSPI: usize = 78;
/// OptionFlags2 fIntSecurity: Windows integrated authentication (SSPI).
const INT_SECURITY: u8 = 0x80;
/// OptionFlags3 fExtension: a FeatureExt block is present.
const HAS_EXTENSION: u8 = 0x10;
/// FeatureExt: federated authentication.
const FEDAUTH: u8 = 0x02;

/// Why a LOGIN7 is refused before any origin sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Malformed,
    /// Windows integrated (SSPI/Kerberos) authentication.
    Sspi,
    /// Azure AD federated authentication.
    Federated,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Malformed => "malformed LOGIN7",
            Refusal::Sspi => {
                "integrated (SSPI/Kerberos) authentication is not supported through wirecache: log in with a SQL Server login and password"
            }
            Refusal::Federated => {
                "federated (Azure AD) authentication is not supported through wirecache: log in with a SQL Server login and password"
            }
        }
    }
}

/// A parsed LOGIN7.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    payload: Vec<u8>,
    pub tds_version: u32,
    pub packet_size: u32,
    pub user: String,
    pub database: String,
    /// OptionFlags1..3 and TypeFlags, and the client's locale id: they change how
    /// results are encoded or computed (e.g. ODBC's ANSI defaults, the language).
    pub options: [u8; 4],
    pub lcid: u32,
}

fn u16_at(p: &[u8], at: usize) -> Option<usize> {
    let b = p.get(at..at + 2)?;
    Some(usize::from(u16::from_le_bytes([*b.first()?, *b.get(1)?])))
}

fn u32_at(p: &[u8], at: usize) -> Option<u32> {
    let mut r = Reader::new(p.get(at..)?);
    r.u32().ok()
}

fn put_u16(p: &mut [u8], at: usize, v: usize) -> Option<()> {
    let v = u16::try_from(v).ok()?;
    p.get_mut(at..at + 2)?.copy_from_slice(&v.to_le_bytes());
    Some(())
}

fn put_u32(p: &mut [u8], at: usize, v: usize) -> Option<()> {
    let v = u32::try_from(v).ok()?;
    p.get_mut(at..at + 4)?.copy_from_slice(&v.to_le_bytes());
    Some(())
}

/// The bytes of field `off` (its offset/length pair at `off`, `off + 2`).
fn field(p: &[u8], off: usize, units: bool) -> Option<&[u8]> {
    let start = u16_at(p, off)?;
    let len = u16_at(p, off + 2)? * if units { 2 } else { 1 };
    p.get(start..start + len)
}

impl Login {
    /// Parses a LOGIN7 payload; every field must lie inside it.
    pub fn parse(payload: &[u8]) -> Result<Login, Refusal> {
        let p = payload;
        let version = u32_at(p, 4).ok_or(Refusal::Malformed)?;
        if p.len() < fixed(version) {
            return Err(Refusal::Malformed);
        }
        for &(off, units) in fields(version) {
            let f = field(p, off, units).ok_or(Refusal::Malformed)?;
            // A field's bytes lie past the fixed part (a rewrite moves only those).
            if !f.is_empty() && u16_at(p, off).is_none_or(|at| at < fixed(version)) {
                return Err(Refusal::Malformed);
            }
        }
        let flags2 = p.get(25).copied().unwrap_or(0);
        let sspi = field(p, SSPI, false).map_or(0, <[u8]>::len);
        if flags2 & INT_SECURITY != 0 || sspi > 0 {
            return Err(Refusal::Sspi);
        }
        if features(p)?.contains(&FEDAUTH) {
            return Err(Refusal::Federated);
        }
        let text = |off| field(p, off, true).map(utf16).ok_or(Refusal::Malformed);
        Ok(Login {
            payload: p.to_vec(),
            tds_version: version,
            packet_size: u32_at(p, 8).ok_or(Refusal::Malformed)?,
            user: text(USER)?,
            database: text(DATABASE)?,
            options: p
                .get(24..28)
                .and_then(|b| b.try_into().ok())
                .ok_or(Refusal::Malformed)?,
            lcid: u32_at(p, 32).ok_or(Refusal::Malformed)?,
        })
    }

    /// The payload with the login name `user` instead of the client's, offsets and
    /// lengths recomputed.
    /// Whatever the layout the client chose, the rewrite must parse back as the same
    /// login with only the name changed, or the login is refused as malformed (a
    /// guard over the layout checks in `rewrite`, which fuzzing found gaps in).
    pub fn with_user(&self, user: &str) -> Result<Vec<u8>, Refusal> {
        let out = rewrite(&self.payload, user, self.tds_version).ok_or(Refusal::Malformed)?;
        let again = Login::parse(&out).map_err(|_| Refusal::Malformed)?;
        let same_fields = fields(self.tds_version)
            .iter()
            .filter(|(off, _)| *off != USER && *off != EXTENSION)
            .all(|&(off, units)| field(&self.payload, off, units) == field(&out, off, units));
        let same = again.user == user
            && again.tds_version == self.tds_version
            && again.packet_size == self.packet_size
            && again.database == self.database
            && again.options == self.options
            && again.lcid == self.lcid
            && features(&out).ok() == features(&self.payload).ok();
        if same && same_fields {
            Ok(out)
        } else {
            Err(Refusal::Malformed)
        }
    }
}

fn fixed(version: u32) -> usize {
    if version >= TDS_72 { FIXED } else { FIXED_71 }
}

/// The offset/length fields of `version`'s LOGIN7.
fn fields(version: u32) -> &'static [(usize, bool)] {
    let n = if version >= TDS_72 {
        FIELDS.len()
    } else {
        FIELDS.len() - 1
    };
    FIELDS.get(..n).unwrap_or(&FIELDS)
}

/// The FeatureExt ids the login carries, if it has a FeatureExt block.
fn features(p: &[u8]) -> Result<Vec<u8>, Refusal> {
    let flags3 = p.get(27).copied().unwrap_or(0);
    if flags3 & HAS_EXTENSION == 0 {
        return Ok(Vec::new());
    }
    let ext = field(p, EXTENSION, false).ok_or(Refusal::Malformed)?;
    let mut r = Reader::new(ext);
    let at = r.u32().map_err(|_| Refusal::Malformed)?;
    let at = usize::try_from(at).map_err(|_| Refusal::Malformed)?;
    // Past the fixed part, which a rewrite changes (fifth `tds_login` finding).
    if at < FIXED {
        return Err(Refusal::Malformed);
    }
    let mut r = Reader::new(p.get(at..).ok_or(Refusal::Malformed)?);
    let mut ids = Vec::new();
    loop {
        let id = r.u8().map_err(|_| Refusal::Malformed)?;
        if id == 0xFF {
            return Ok(ids);
        }
        ids.push(id);
        let n = r.u32().map_err(|_| Refusal::Malformed)?;
        let n = usize::try_from(n).map_err(|_| Refusal::Malformed)?;
        r.take(n).map_err(|_| Refusal::Malformed)?;
    }
}

/// Where the FeatureExt block starts and ends, if there is one.
fn feature_span(p: &[u8]) -> Option<(usize, usize)> {
    if p.get(27).copied().unwrap_or(0) & HAS_EXTENSION == 0 {
        return None;
    }
    let ext = field(p, EXTENSION, false)?;
    let at = usize::try_from(Reader::new(ext).u32().ok()?).ok()?;
    let mut r = Reader::new(p.get(at..)?);
    loop {
        if r.u8().ok()? == 0xFF {
            return Some((at, p.len() - r.rest()));
        }
        let n = usize::try_from(r.u32().ok()?).ok()?;
        r.take(n).ok()?;
    }
}

/// Whether a field other than `own` and the user name has bytes in
/// `start..start + len`, or (empty) points strictly inside it.
fn overlaps(p: &[u8], version: u32, start: usize, len: usize, own: usize) -> bool {
    fields(version)
        .iter()
        .filter(|(off, _)| *off != own && *off != USER)
        .any(|&(off, units)| {
            let (Some(at), Some(n)) = (u16_at(p, off), u16_at(p, off + 2)) else {
                return true;
            };
            let n = n * if units { 2 } else { 1 };
            let inside = at > start && at < start + len;
            (n > 0 && at < start + len && at + n > start) || inside
        })
}

/// Replaces the user name's bytes and moves every offset that points past them.
fn rewrite(p: &[u8], user: &str, version: u32) -> Option<Vec<u8>> {
    let start = u16_at(p, USER)?;
    let old = u16_at(p, USER + 2)? * 2;
    // The splice must land in the variable part and replace the name alone: a name
    // inside the fixed part, or overlapping another field, is refused (found by the
    // `tds_login` fuzz target).
    if start < fixed(version) || overlaps(p, version, start, old, USER) {
        return None;
    }
    // The FeatureExt offset is rewritten in place: no other field may share its bytes.
    let flags3 = p.get(27).copied().unwrap_or(0);
    if flags3 & HAS_EXTENSION != 0 && overlaps(p, version, u16_at(p, EXTENSION)?, 4, EXTENSION) {
        return None;
    }
    if let Some((a, b)) = feature_span(p)
        && start < b
        && (start > a || start + old > a)
    {
        return None;
    }
    let new: Vec<u8> = super::types::to_utf16(user);
    let units = new.len() / 2;
    let mut out = Vec::with_capacity(p.len() + new.len());
    out.extend_from_slice(p.get(..start)?);
    out.extend_from_slice(&new);
    out.extend_from_slice(p.get(start + old..)?);
    // Everything at or past the end of the old name moves with it.
    let moved = |at: usize| at - old + new.len();
    for &(off, _) in fields(version) {
        let at = u16_at(p, off)?;
        if off != USER && at >= start + old {
            put_u16(&mut out, off, moved(at))?;
        }
    }
    put_u16(&mut out, USER + 2, units)?;
    if flags3 & HAS_EXTENSION != 0 {
        let ext = u16_at(&out, EXTENSION)?;
        let target = usize::try_from(u32_at(&out, ext)?).ok()?;
        if target > start && target < start + old {
            return None;
        }
        if target >= start + old {
            put_u32(&mut out, ext, moved(target))?;
        }
    }
    let total = out.len();
    put_u32(&mut out, 0, total)?;
    Some(out)
}
