//! The UAS side of Digest for inbound trunks: stateless nonces, HA1-only credential storage,
//! nonce-count replay checks in caller-owned state, constant-time response comparison.
//!
//! Nonce format: 16 hex digits of the issue time (seconds, from the caller), 16 of a serial number
//! (so every challenge gets its own nonce), then the first 128 bits of
//! `HMAC-SHA-256(secret, time serial ":" realm)` in hex — verifiable without a nonce table,
//! expiring after [`DigestServer::nonce_lifetime_secs`] (then `stale=true`).

use super::digest::{Algorithm, Challenge, Credentials, DigestError, HashKind, Qop};
use super::hash::{ResponseInput, constant_time_eq, ha1, hex, hmac_sha256, response};
use std::sync::atomic::{AtomicU64, Ordering};

/// What a server stores per user: HA1 digests, never the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCredential {
    /// `H(username:realm:password)` with MD5, lowercase hex, if MD5 is allowed for this user.
    pub md5_ha1: Option<String>,
    /// The same with SHA-256.
    pub sha256_ha1: Option<String>,
}

impl StoredCredential {
    /// Computes both HA1s at provisioning time; the password is not kept.
    pub fn from_password(username: &str, realm: &str, password: &str) -> StoredCredential {
        StoredCredential {
            md5_ha1: Some(ha1(HashKind::Md5, username, realm, password)),
            sha256_ha1: Some(ha1(HashKind::Sha256, username, realm, password)),
        }
    }

    fn ha1(&self, kind: HashKind) -> Option<&str> {
        match kind {
            HashKind::Md5 => self.md5_ha1.as_deref(),
            HashKind::Sha256 => self.sha256_ha1.as_deref(),
        }
    }
}

/// Highest nonce count seen per nonce: the caller owns one per server (or per shard) and passes
/// it in. Bounded: the oldest nonce is forgotten first (its nonce expires anyway).
#[derive(Debug, Clone)]
pub struct NonceCounts {
    entries: std::collections::VecDeque<(String, u32)>,
    capacity: usize,
}

impl NonceCounts {
    /// Room for `capacity` nonces (at least 1).
    pub fn new(capacity: usize) -> NonceCounts {
        NonceCounts {
            entries: std::collections::VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    /// Accepts `nc` only if it is higher than any seen for `nonce`, and records it.
    pub fn check_and_record(&mut self, nonce: &str, nc: u32) -> bool {
        if let Some(e) = self.entries.iter_mut().find(|(n, _)| n == nonce) {
            if nc <= e.1 {
                return false;
            }
            e.1 = nc;
            return true;
        }
        if self.entries.len() >= self.capacity {
            self.entries.pop_front();
        }
        self.entries.push_back((nonce.to_owned(), nc));
        true
    }
}

/// A successful verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The authenticated user.
    pub username: String,
    /// The algorithm used.
    pub algorithm: Algorithm,
}

/// Why credentials were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The header does not parse as Digest credentials.
    #[error("malformed credentials: {0}")]
    Malformed(#[from] DigestError),
    /// Credentials for another realm.
    #[error("credentials for realm {realm}")]
    WrongRealm {
        /// The realm in the credentials.
        realm: String,
    },
    /// An algorithm we did not offer.
    #[error("algorithm {algorithm} not offered")]
    UnsupportedAlgorithm {
        /// The algorithm in the credentials.
        algorithm: String,
    },
    /// A nonce we did not issue (bad MAC, bad format, issued in the future).
    #[error("nonce not issued by us")]
    InvalidNonce,
    /// qop missing or not `auth`, or cnonce/nc missing.
    #[error("qop=auth with cnonce and nc required")]
    QopRequired,
    /// The `uri` parameter does not match the Request-URI.
    #[error("uri parameter does not match the Request-URI")]
    UriMismatch,
    /// No credential stored for the user (or none for this algorithm).
    #[error("unknown user")]
    UnknownUser,
    /// The response digest is wrong (wrong password).
    #[error("wrong response")]
    WrongResponse,
    /// Correct response, expired nonce: challenge again with `stale=true`.
    #[error("stale nonce")]
    StaleNonce,
    /// A nonce count not higher than one already seen for this nonce (replay).
    #[error("nonce count {nc} reused")]
    NonceCountReused {
        /// The nonce count in the credentials.
        nc: u32,
    },
}

impl VerifyError {
    /// Send a fresh challenge with `stale=true`.
    pub fn is_stale(&self) -> bool {
        matches!(self, VerifyError::StaleNonce)
    }

    /// The SIP status to answer with: 400 for malformed credentials, 401 (with a fresh challenge)
    /// for nonce problems, 403 for wrong user, realm or password.
    pub fn status_code(&self) -> u16 {
        match self {
            VerifyError::Malformed(_) | VerifyError::QopRequired | VerifyError::UriMismatch => 400,
            VerifyError::InvalidNonce | VerifyError::StaleNonce | VerifyError::NonceCountReused { .. } => 401,
            _ => 403,
        }
    }
}

/// Digest server configuration for one realm. `Debug` does not print the secret.
pub struct DigestServer {
    /// Realm, e.g. the trunk's domain.
    pub realm: String,
    secret: Vec<u8>,
    /// Nonce lifetime in seconds.
    pub nonce_lifetime_secs: u64,
    /// Algorithms offered, strongest first (default SHA-256 then MD5, as RFC 8760 §2.4 orders).
    pub algorithms: Vec<Algorithm>,
    /// Makes every nonce unique, even several issued within one second: each client then
    /// counts `nc` from 1 on its own nonce and replay checks never collide between clients.
    issued: AtomicU64,
}

impl Clone for DigestServer {
    fn clone(&self) -> DigestServer {
        DigestServer {
            realm: self.realm.clone(),
            secret: self.secret.clone(),
            nonce_lifetime_secs: self.nonce_lifetime_secs,
            algorithms: self.algorithms.clone(),
            issued: AtomicU64::new(self.issued.load(Ordering::Relaxed)),
        }
    }
}

impl std::fmt::Debug for DigestServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DigestServer")
            .field("realm", &self.realm)
            .field("secret", &"<redacted>")
            .field("nonce_lifetime_secs", &self.nonce_lifetime_secs)
            .field("algorithms", &self.algorithms)
            .finish()
    }
}

/// Length of the nonces we issue: time, serial number and MAC in hex.
const NONCE_LEN: usize = 64;

/// Tolerated clock skew for nonces issued "in the future" (several processes, one secret).
const FUTURE_SKEW_SECS: u64 = 30;

impl DigestServer {
    /// A server for `realm` keyed with `secret` (random, from the caller; shared by all processes
    /// that must accept each other's nonces).
    pub fn new(realm: &str, secret: &[u8], nonce_lifetime_secs: u64) -> DigestServer {
        DigestServer {
            realm: realm.to_owned(),
            secret: secret.to_vec(),
            nonce_lifetime_secs,
            algorithms: vec![Algorithm::Sha256, Algorithm::Md5],
            issued: AtomicU64::new(0),
        }
    }

    /// MAC over the nonce's time and serial fields (both 16 hex digits).
    fn mac(&self, ts_and_serial: &str) -> String {
        hex(&hmac_sha256(&self.secret, &[ts_and_serial.as_bytes(), b":", self.realm.as_bytes()])[..16])
    }

    /// A new nonce issued at `now` (seconds since an epoch the caller keeps fixed):
    /// 16 hex digits of time, 16 of serial number, 32 of MAC. Two calls never return the same
    /// nonce; a fresh server with the same secret returns the same sequence.
    pub fn nonce(&self, now: u64) -> String {
        let serial = self.issued.fetch_add(1, Ordering::Relaxed);
        let fields = format!("{now:016x}{serial:016x}");
        let mac = self.mac(&fields);
        fields + &mac
    }

    /// The issue time of a nonce we made, `None` if we did not make it.
    fn nonce_time(&self, nonce: &str) -> Option<u64> {
        if nonce.len() != NONCE_LEN || !nonce.is_ascii() {
            return None;
        }
        let (fields, mac) = nonce.split_at(32);
        if !constant_time_eq(self.mac(fields).as_bytes(), mac.as_bytes()) {
            return None;
        }
        u64::from_str_radix(&fields[..16], 16).ok()
    }

    /// The challenges for a 401/407, one per offered algorithm, all with `qop="auth"`.
    pub fn challenges(&self, now: u64, stale: bool) -> Vec<Challenge> {
        let nonce = self.nonce(now);
        self.algorithms
            .iter()
            .map(|a| Challenge {
                realm: self.realm.clone(),
                domain: None,
                nonce: nonce.clone(),
                opaque: None,
                stale,
                algorithm: Some(a.clone()),
                qop: vec![Qop::Auth],
                extra: Vec::new(),
            })
            .collect()
    }

    /// Verifies an `Authorization` / `Proxy-Authorization` value for a request.
    /// `credential` looks up what is stored for a user name in this realm.
    pub fn verify(
        &self,
        authorization: &[u8],
        method: &str,
        request_uri: &str,
        now: u64,
        credential: impl FnOnce(&str) -> Option<StoredCredential>,
        counts: &mut NonceCounts,
    ) -> Result<Verified, VerifyError> {
        let c = Credentials::parse(authorization)?;
        if c.realm != self.realm {
            return Err(VerifyError::WrongRealm { realm: c.realm });
        }
        let algorithm = c.algorithm();
        let kind = match algorithm.hash() {
            Some(k) if self.algorithms.contains(&algorithm) => k,
            _ => {
                return Err(VerifyError::UnsupportedAlgorithm {
                    algorithm: algorithm.name().to_owned(),
                });
            }
        };
        let issued = self.nonce_time(&c.nonce).ok_or(VerifyError::InvalidNonce)?;
        if issued > now.saturating_add(FUTURE_SKEW_SECS) {
            return Err(VerifyError::InvalidNonce);
        }
        let (Some(Qop::Auth), Some(cnonce), Some(nc)) = (&c.qop, &c.cnonce, c.nc) else {
            return Err(VerifyError::QopRequired);
        };
        if c.uri != request_uri {
            return Err(VerifyError::UriMismatch);
        }
        let stored = credential(&c.username).ok_or(VerifyError::UnknownUser)?;
        let ha1 = stored.ha1(kind).ok_or(VerifyError::UnknownUser)?;
        let input = ResponseInput {
            algorithm: &algorithm,
            nonce: &c.nonce,
            cnonce,
            nc,
            qop: Some(&Qop::Auth),
            method,
            uri: &c.uri,
            body: &[],
        };
        let expected = response(ha1, &input).ok_or(VerifyError::UnsupportedAlgorithm {
            algorithm: algorithm.name().to_owned(),
        })?;
        if !constant_time_eq(expected.as_bytes(), c.response.to_ascii_lowercase().as_bytes()) {
            return Err(VerifyError::WrongResponse);
        }
        if now > issued.saturating_add(self.nonce_lifetime_secs) {
            return Err(VerifyError::StaleNonce);
        }
        if !counts.check_and_record(&c.nonce, nc) {
            return Err(VerifyError::NonceCountReused { nc });
        }
        Ok(Verified {
            username: c.username,
            algorithm,
        })
    }
}
