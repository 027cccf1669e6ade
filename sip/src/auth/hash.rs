//! The Digest computations (RFC 7616 §3.4) and the primitives under them: lowercase hex,
//! HMAC-SHA-256, constant-time comparison.

use md5::Md5;
use sha2::{Digest, Sha256};

use super::digest::{Algorithm, HashKind, Qop};

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(HEX[usize::from(b >> 4)] as char);
        s.push(HEX[usize::from(b & 15)] as char);
    }
    s
}

/// `H(data)` as lowercase hex, `data` given as parts joined with nothing.
pub fn h(kind: HashKind, parts: &[&[u8]]) -> String {
    match kind {
        HashKind::Md5 => {
            let mut d = Md5::new();
            parts.iter().for_each(|p| d.update(p));
            hex(&d.finalize())
        }
        HashKind::Sha256 => {
            let mut d = Sha256::new();
            parts.iter().for_each(|p| d.update(p));
            hex(&d.finalize())
        }
    }
}

/// `H(username ":" realm ":" password)`: what a server stores instead of the password.
pub fn ha1(kind: HashKind, username: &str, realm: &str, password: &str) -> String {
    h(
        kind,
        &[username.as_bytes(), b":", realm.as_bytes(), b":", password.as_bytes()],
    )
}

/// The inputs of a response computation besides HA1.
#[derive(Debug, Clone, Copy)]
pub struct ResponseInput<'a> {
    /// Algorithm (decides the hash and whether HA1 is session-bound).
    pub algorithm: &'a Algorithm,
    /// Server nonce.
    pub nonce: &'a str,
    /// Client nonce (required with qop or -sess).
    pub cnonce: &'a str,
    /// Nonce count.
    pub nc: u32,
    /// qop, `None` for RFC 2069 style.
    pub qop: Option<&'a Qop>,
    /// Request method.
    pub method: &'a str,
    /// `uri` parameter (the request URI).
    pub uri: &'a str,
    /// Message body, used only for `auth-int`.
    pub body: &'a [u8],
}

/// The hex `response` from a stored (plain, not `-sess`) HA1; `None` when the algorithm is
/// unsupported.
pub fn response(ha1_hex: &str, i: &ResponseInput<'_>) -> Option<String> {
    let kind = i.algorithm.hash()?;
    let ha1 = if i.algorithm.is_session() {
        h(
            kind,
            &[ha1_hex.as_bytes(), b":", i.nonce.as_bytes(), b":", i.cnonce.as_bytes()],
        )
    } else {
        ha1_hex.to_owned()
    };
    let ha2 = match i.qop {
        Some(Qop::AuthInt) => {
            let body = h(kind, &[i.body]);
            h(
                kind,
                &[i.method.as_bytes(), b":", i.uri.as_bytes(), b":", body.as_bytes()],
            )
        }
        _ => h(kind, &[i.method.as_bytes(), b":", i.uri.as_bytes()]),
    };
    Some(match i.qop {
        Some(q) => {
            let nc = format!("{:08x}", i.nc);
            h(
                kind,
                &[
                    ha1.as_bytes(),
                    b":",
                    i.nonce.as_bytes(),
                    b":",
                    nc.as_bytes(),
                    b":",
                    i.cnonce.as_bytes(),
                    b":",
                    q.name().as_bytes(),
                    b":",
                    ha2.as_bytes(),
                ],
            )
        }
        None => h(kind, &[ha1.as_bytes(), b":", i.nonce.as_bytes(), b":", ha2.as_bytes()]),
    })
}

/// HMAC-SHA-256 (RFC 2104).
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(k.map(|b| b ^ 0x36));
    parts.iter().for_each(|p| inner.update(p));
    let mut outer = Sha256::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

/// Equality whose running time depends only on the lengths, not on where the inputs differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}
