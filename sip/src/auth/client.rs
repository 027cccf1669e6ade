//! The UAC side of Digest: answer a 401/407 challenge, reuse nonces with increasing `nc`, retry
//! on `stale=true`, and refuse to loop when the server keeps rejecting our credentials.
//!
//! Sans-IO: the caller passes the challenge header values, the request's method, URI and body,
//! and a fresh random client nonce (see [`cnonce_from_random`]); nothing here reads a clock or
//! a random source.

use super::digest::{Algorithm, Challenge, Credentials, Qop};
use super::hash::{ResponseInput, ha1, hex, response};
use super::params::AuthParams;

/// Which pair of headers is involved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChallengeKind {
    /// 401: `WWW-Authenticate` → `Authorization`.
    Www,
    /// 407: `Proxy-Authenticate` → `Proxy-Authorization`.
    Proxy,
}

impl ChallengeKind {
    /// The header carrying the challenge.
    pub fn challenge_header(self) -> &'static str {
        match self {
            ChallengeKind::Www => "WWW-Authenticate",
            ChallengeKind::Proxy => "Proxy-Authenticate",
        }
    }

    /// The header carrying our credentials.
    pub fn credentials_header(self) -> &'static str {
        match self {
            ChallengeKind::Www => "Authorization",
            ChallengeKind::Proxy => "Proxy-Authorization",
        }
    }
}

/// The parts of the request being authorised.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// Method, e.g. `INVITE`.
    pub method: &'a str,
    /// Request-URI as it will be sent.
    pub uri: &'a str,
    /// Body, if `auth-int` may be used; `None` disables `auth-int`.
    pub body: Option<&'a [u8]>,
}

/// A header to add to the retried request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationHeader {
    /// Which header.
    pub kind: ChallengeKind,
    /// Its value (print with `to_string()`).
    pub credentials: Credentials,
}

impl AuthorizationHeader {
    /// `Authorization` or `Proxy-Authorization`.
    pub fn name(&self) -> &'static str {
        self.kind.credentials_header()
    }
}

/// Why a challenge could not be answered. Any of these ends the attempt as an auth failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// No parseable Digest challenge in the header values.
    #[error("no Digest challenge in the response")]
    NoDigestChallenge,
    /// Only algorithms we do not implement were offered.
    #[error("unsupported Digest algorithm {algorithm}")]
    UnsupportedAlgorithm {
        /// The (last) algorithm offered.
        algorithm: String,
    },
    /// Only `auth-int` (or unknown qops) were offered and we have no body to protect.
    #[error("only qop=auth-int offered and auth-int is not available for this request")]
    AuthIntUnsupported,
    /// The server challenged again, without `stale=true`, after we answered: wrong credentials.
    #[error("credentials for realm {realm} were rejected")]
    Rejected {
        /// The realm.
        realm: String,
    },
    /// Too many consecutive `stale=true` challenges for one realm.
    #[error("too many stale challenges for realm {realm}")]
    TooManyStale {
        /// The realm.
        realm: String,
    },
}

/// A cnonce token from caller-supplied random bytes (hex; use at least 8 bytes).
pub fn cnonce_from_random(random: &[u8]) -> String {
    hex(random)
}

const MAX_REALMS: usize = 8;
const MAX_STALE_RETRIES: u8 = 3;

#[derive(Debug, Clone)]
struct RealmState {
    kind: ChallengeKind,
    challenge: Challenge,
    algorithm: Algorithm,
    qop: Option<Qop>,
    nc: u32,
    awaiting: bool,
    stale_retries: u8,
}

/// Digest client state for one set of credentials (one account, one dialog or registration).
/// `Debug` does not print the password.
#[derive(Clone)]
pub struct DigestClient {
    username: String,
    password: String,
    realms: Vec<RealmState>,
}

impl std::fmt::Debug for DigestClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DigestClient")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("realms", &self.realms)
            .finish()
    }
}

fn choose_qop(c: &Challenge, body: Option<&[u8]>) -> Option<Option<Qop>> {
    if c.qop.is_empty() {
        return Some(None);
    }
    if c.qop.contains(&Qop::Auth) {
        return Some(Some(Qop::Auth));
    }
    (c.qop.contains(&Qop::AuthInt) && body.is_some()).then_some(Some(Qop::AuthInt))
}

impl DigestClient {
    /// A client for these credentials.
    pub fn new(username: &str, password: &str) -> DigestClient {
        DigestClient {
            username: username.to_owned(),
            password: password.to_owned(),
            realms: Vec::new(),
        }
    }

    /// Answers a 401 (`Www`) or 407 (`Proxy`) response. `challenges` are the values of all its
    /// challenge headers; the strongest supported challenge per realm is answered (SHA-256 over
    /// MD5). Returns one header per realm.
    pub fn respond(
        &mut self,
        kind: ChallengeKind,
        challenges: &[&[u8]],
        req: &Request<'_>,
        cnonce: &str,
    ) -> Result<Vec<AuthorizationHeader>, ClientError> {
        let parsed: Vec<Challenge> = challenges
            .iter()
            .filter_map(|v| AuthParams::parse_list(v).ok())
            .flatten()
            .filter(|p| p.scheme.eq_ignore_ascii_case("Digest"))
            .filter_map(|p| Challenge::from_params(&p).ok())
            .collect();
        if parsed.is_empty() {
            return Err(ClientError::NoDigestChallenge);
        }
        let mut failure = ClientError::NoDigestChallenge;
        let mut best: Vec<(Challenge, Algorithm, Option<Qop>)> = Vec::new();
        for c in parsed {
            let alg = c.algorithm();
            if alg.hash().is_none() {
                failure = ClientError::UnsupportedAlgorithm {
                    algorithm: alg.name().to_owned(),
                };
                continue;
            }
            let Some(qop) = choose_qop(&c, req.body) else {
                failure = ClientError::AuthIntUnsupported;
                continue;
            };
            match best.iter_mut().find(|(b, _, _)| b.realm == c.realm) {
                Some(slot) if alg.strength() > slot.1.strength() => *slot = (c, alg, qop),
                Some(_) => {}
                None => best.push((c, alg, qop)),
            }
        }
        if best.is_empty() {
            return Err(failure);
        }
        // Check every realm before changing any state.
        for (c, _, _) in &best {
            if let Some(s) = self.realms.iter().find(|s| s.challenge.realm == c.realm && s.awaiting) {
                if !c.stale {
                    return Err(ClientError::Rejected { realm: c.realm.clone() });
                }
                if s.stale_retries >= MAX_STALE_RETRIES {
                    return Err(ClientError::TooManyStale { realm: c.realm.clone() });
                }
            }
        }
        let mut out = Vec::with_capacity(best.len());
        for (c, algorithm, qop) in best {
            let idx = match self.realms.iter().position(|s| s.challenge.realm == c.realm) {
                Some(i) => {
                    let s = &mut self.realms[i];
                    s.stale_retries = if s.awaiting && c.stale { s.stale_retries + 1 } else { 0 };
                    s.nc = if s.challenge.nonce == c.nonce { s.nc } else { 0 };
                    s.kind = kind;
                    s.challenge = c;
                    s.algorithm = algorithm;
                    s.qop = qop;
                    i
                }
                None => {
                    if self.realms.len() >= MAX_REALMS {
                        self.realms.remove(0);
                    }
                    self.realms.push(RealmState {
                        kind,
                        challenge: c,
                        algorithm,
                        qop,
                        nc: 0,
                        awaiting: false,
                        stale_retries: 0,
                    });
                    self.realms.len() - 1
                }
            };
            out.push(self.answer(idx, req, cnonce));
        }
        Ok(out)
    }

    /// Credentials for a new request reusing the nonces we hold (pre-emptive authorisation);
    /// each use increments that nonce's `nc`. Empty when we hold no challenge.
    pub fn authorize(&mut self, req: &Request<'_>, cnonce: &str) -> Vec<AuthorizationHeader> {
        (0..self.realms.len())
            .filter(|&i| self.realms[i].qop != Some(Qop::AuthInt) || req.body.is_some())
            .collect::<Vec<_>>()
            .into_iter()
            .map(|i| self.answer(i, req, cnonce))
            .collect()
    }

    /// The request that carried our credentials got a response other than 401/407: the
    /// credentials were accepted, so a later challenge is answered again.
    pub fn request_accepted(&mut self) {
        for s in &mut self.realms {
            s.awaiting = false;
            s.stale_retries = 0;
        }
    }

    fn answer(&mut self, idx: usize, req: &Request<'_>, cnonce: &str) -> AuthorizationHeader {
        let s = &mut self.realms[idx];
        s.nc = s.nc.wrapping_add(1).max(1);
        s.awaiting = true;
        let c = &s.challenge;
        let kind = s.algorithm.hash().unwrap_or(super::digest::HashKind::Md5);
        let ha1 = ha1(kind, &self.username, &c.realm, &self.password);
        let with_cnonce = s.qop.is_some() || s.algorithm.is_session();
        let input = ResponseInput {
            algorithm: &s.algorithm,
            nonce: &c.nonce,
            cnonce,
            nc: s.nc,
            qop: s.qop.as_ref(),
            method: req.method,
            uri: req.uri,
            body: req.body.unwrap_or_default(),
        };
        let response = response(&ha1, &input).unwrap_or_default();
        AuthorizationHeader {
            kind: s.kind,
            credentials: Credentials {
                username: self.username.clone(),
                realm: c.realm.clone(),
                nonce: c.nonce.clone(),
                uri: req.uri.to_owned(),
                response,
                algorithm: c.algorithm.clone(),
                cnonce: with_cnonce.then(|| cnonce.to_owned()),
                opaque: c.opaque.clone(),
                qop: s.qop.clone(),
                nc: s.qop.is_some().then_some(s.nc),
                extra: Vec::new(),
            },
        }
    }
}
