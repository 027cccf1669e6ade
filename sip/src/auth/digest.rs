//! Typed Digest challenges (`WWW-Authenticate`, `Proxy-Authenticate`) and credentials
//! (`Authorization`, `Proxy-Authorization`) per RFC 2617, RFC 7616 and RFC 8760.

use std::fmt;

use super::params::{AuthParams, Param, ParseError};

/// A Digest algorithm.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// `MD5` (the default when absent).
    Md5,
    /// `MD5-sess`.
    Md5Sess,
    /// `SHA-256` (RFC 7616, RFC 8760).
    Sha256,
    /// `SHA-256-sess`.
    Sha256Sess,
    /// Anything else (e.g. `SHA-512-256`), unsupported, name as received.
    Other(String),
}

impl Algorithm {
    /// Recognises an algorithm name (ASCII case-insensitive).
    pub fn from_name(s: &str) -> Algorithm {
        [
            Algorithm::Md5,
            Algorithm::Md5Sess,
            Algorithm::Sha256,
            Algorithm::Sha256Sess,
        ]
        .into_iter()
        .find(|a| a.name().eq_ignore_ascii_case(s))
        .unwrap_or_else(|| Algorithm::Other(s.to_owned()))
    }

    /// The name as written on the wire.
    pub fn name(&self) -> &str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Md5Sess => "MD5-sess",
            Algorithm::Sha256 => "SHA-256",
            Algorithm::Sha256Sess => "SHA-256-sess",
            Algorithm::Other(s) => s,
        }
    }

    /// The hash function, `None` when unsupported.
    pub fn hash(&self) -> Option<HashKind> {
        match self {
            Algorithm::Md5 | Algorithm::Md5Sess => Some(HashKind::Md5),
            Algorithm::Sha256 | Algorithm::Sha256Sess => Some(HashKind::Sha256),
            Algorithm::Other(_) => None,
        }
    }

    /// A `-sess` variant (HA1 bound to nonce and cnonce).
    pub fn is_session(&self) -> bool {
        matches!(self, Algorithm::Md5Sess | Algorithm::Sha256Sess)
    }

    /// Higher is stronger; unsupported algorithms rank 0.
    pub fn strength(&self) -> u8 {
        match self.hash() {
            Some(HashKind::Sha256) => 2,
            Some(HashKind::Md5) => 1,
            None => 0,
        }
    }
}

/// The hash function behind an algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashKind {
    /// MD5: 32 hex digits.
    Md5,
    /// SHA-256: 64 hex digits.
    Sha256,
}

/// A quality of protection value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Qop {
    /// `auth`.
    Auth,
    /// `auth-int` (the body is hashed in).
    AuthInt,
    /// Anything else, as received.
    Other(String),
}

impl Qop {
    /// Recognises a qop token (ASCII case-insensitive).
    pub fn from_name(s: &str) -> Qop {
        if s.eq_ignore_ascii_case("auth") {
            Qop::Auth
        } else if s.eq_ignore_ascii_case("auth-int") {
            Qop::AuthInt
        } else {
            Qop::Other(s.to_owned())
        }
    }

    /// The token.
    pub fn name(&self) -> &str {
        match self {
            Qop::Auth => "auth",
            Qop::AuthInt => "auth-int",
            Qop::Other(s) => s,
        }
    }
}

/// A typed error for Digest fields that parse syntactically but not semantically.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    /// The header value does not parse.
    #[error(transparent)]
    Syntax(#[from] ParseError),
    /// The scheme is not `Digest`.
    #[error("scheme {scheme} is not Digest")]
    NotDigest {
        /// The scheme found.
        scheme: String,
    },
    /// A mandatory parameter is absent.
    #[error("Digest parameter {name} missing")]
    Missing {
        /// The parameter.
        name: &'static str,
    },
    /// `nc` is not 8 hex digits.
    #[error("nc is not 8 hex digits")]
    BadNonceCount,
    /// `stale` is neither true nor false.
    #[error("stale is neither true nor false")]
    BadStale,
    /// More than one credentials in an Authorization value.
    #[error("more than one set of credentials in one header value")]
    MultipleCredentials,
}

/// A Digest challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// Protection space.
    pub realm: String,
    /// `domain`, verbatim.
    pub domain: Option<String>,
    /// Server nonce.
    pub nonce: String,
    /// Opaque string to echo back.
    pub opaque: Option<String>,
    /// The previous request's nonce was stale: retry with this one, no new password prompt.
    pub stale: bool,
    /// Algorithm; `None` means MD5 by default.
    pub algorithm: Option<Algorithm>,
    /// Offered qop values; empty for an RFC 2069 challenge.
    pub qop: Vec<Qop>,
    /// Parameters not listed above, in order.
    pub extra: Vec<Param>,
}

const CHALLENGE_KNOWN: [&str; 7] = ["realm", "domain", "nonce", "opaque", "stale", "algorithm", "qop"];

impl Challenge {
    /// The algorithm with the RFC default applied.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm.clone().unwrap_or(Algorithm::Md5)
    }

    /// Parses all challenges in one header value (non-Digest schemes are skipped).
    pub fn parse_all(value: &[u8]) -> Result<Vec<Challenge>, DigestError> {
        AuthParams::parse_list(value)?
            .into_iter()
            .filter(|p| p.scheme.eq_ignore_ascii_case("Digest"))
            .map(|p| Challenge::from_params(&p))
            .collect()
    }

    /// Parses a header value holding exactly one Digest challenge (the first if several).
    pub fn parse(value: &[u8]) -> Result<Challenge, DigestError> {
        let list = AuthParams::parse_list(value)?;
        let first = list.first().ok_or(DigestError::Syntax(ParseError::Empty))?;
        if !first.scheme.eq_ignore_ascii_case("Digest") {
            return Err(DigestError::NotDigest {
                scheme: first.scheme.clone(),
            });
        }
        Challenge::from_params(first)
    }

    /// From generic parameters.
    pub fn from_params(p: &AuthParams) -> Result<Challenge, DigestError> {
        let stale = match p.get("stale") {
            None => false,
            Some(s) if s.eq_ignore_ascii_case("true") => true,
            Some(s) if s.eq_ignore_ascii_case("false") => false,
            Some(_) => return Err(DigestError::BadStale),
        };
        Ok(Challenge {
            realm: p.get("realm").ok_or(DigestError::Missing { name: "realm" })?.to_owned(),
            domain: p.get("domain").map(str::to_owned),
            nonce: p.get("nonce").ok_or(DigestError::Missing { name: "nonce" })?.to_owned(),
            opaque: p.get("opaque").map(str::to_owned),
            stale,
            algorithm: p.get("algorithm").map(Algorithm::from_name),
            qop: p
                .get("qop")
                .map(|q| {
                    q.split(',')
                        .map(str::trim)
                        .filter(|q| !q.is_empty())
                        .map(Qop::from_name)
                        .collect()
                })
                .unwrap_or_default(),
            extra: extra(p, &CHALLENGE_KNOWN),
        })
    }

    /// As generic parameters, in RFC 7616 order.
    pub fn to_params(&self) -> AuthParams {
        let mut params = vec![Param::quoted("realm", &self.realm)];
        if let Some(d) = &self.domain {
            params.push(Param::quoted("domain", d));
        }
        params.push(Param::quoted("nonce", &self.nonce));
        if let Some(o) = &self.opaque {
            params.push(Param::quoted("opaque", o));
        }
        if self.stale {
            params.push(Param::token("stale", "true"));
        }
        if let Some(a) = &self.algorithm {
            params.push(Param::token("algorithm", a.name()));
        }
        if !self.qop.is_empty() {
            let q: Vec<&str> = self.qop.iter().map(Qop::name).collect();
            params.push(Param::quoted("qop", q.join(",")));
        }
        params.extend(self.extra.iter().cloned());
        AuthParams {
            scheme: "Digest".to_owned(),
            params,
        }
    }
}

impl fmt::Display for Challenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.to_params().fmt(f)
    }
}

/// Digest credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// User name.
    pub username: String,
    /// Realm from the challenge.
    pub realm: String,
    /// Nonce from the challenge.
    pub nonce: String,
    /// The request URI as the client saw it.
    pub uri: String,
    /// Hex response digest.
    pub response: String,
    /// Algorithm; `None` means MD5.
    pub algorithm: Option<Algorithm>,
    /// Client nonce (with qop).
    pub cnonce: Option<String>,
    /// Opaque echoed from the challenge.
    pub opaque: Option<String>,
    /// Chosen qop.
    pub qop: Option<Qop>,
    /// Nonce count (with qop).
    pub nc: Option<u32>,
    /// Parameters not listed above, in order.
    pub extra: Vec<Param>,
}

const CREDENTIALS_KNOWN: [&str; 10] = [
    "username",
    "realm",
    "nonce",
    "uri",
    "response",
    "algorithm",
    "cnonce",
    "opaque",
    "qop",
    "nc",
];

impl Credentials {
    /// The algorithm with the RFC default applied.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm.clone().unwrap_or(Algorithm::Md5)
    }

    /// Parses an `Authorization` / `Proxy-Authorization` value.
    pub fn parse(value: &[u8]) -> Result<Credentials, DigestError> {
        let list = AuthParams::parse_list(value)?;
        let [p] = &list[..] else {
            return Err(DigestError::MultipleCredentials);
        };
        if !p.scheme.eq_ignore_ascii_case("Digest") {
            return Err(DigestError::NotDigest {
                scheme: p.scheme.clone(),
            });
        }
        let req = |name: &'static str| p.get(name).map(str::to_owned).ok_or(DigestError::Missing { name });
        let nc = match p.get("nc") {
            None => None,
            Some(s) if s.len() == 8 && s.bytes().all(|c| c.is_ascii_hexdigit()) => {
                Some(u32::from_str_radix(s, 16).map_err(|_| DigestError::BadNonceCount)?)
            }
            Some(_) => return Err(DigestError::BadNonceCount),
        };
        Ok(Credentials {
            username: req("username")?,
            realm: req("realm")?,
            nonce: req("nonce")?,
            uri: req("uri")?,
            response: req("response")?,
            algorithm: p.get("algorithm").map(Algorithm::from_name),
            cnonce: p.get("cnonce").map(str::to_owned),
            opaque: p.get("opaque").map(str::to_owned),
            qop: p.get("qop").map(Qop::from_name),
            nc,
            extra: extra(p, &CREDENTIALS_KNOWN),
        })
    }

    /// As generic parameters, in the customary order.
    pub fn to_params(&self) -> AuthParams {
        let mut params = vec![
            Param::quoted("username", &self.username),
            Param::quoted("realm", &self.realm),
            Param::quoted("nonce", &self.nonce),
            Param::quoted("uri", &self.uri),
            Param::quoted("response", &self.response),
        ];
        if let Some(a) = &self.algorithm {
            params.push(Param::token("algorithm", a.name()));
        }
        if let Some(c) = &self.cnonce {
            params.push(Param::quoted("cnonce", c));
        }
        if let Some(o) = &self.opaque {
            params.push(Param::quoted("opaque", o));
        }
        if let Some(q) = &self.qop {
            params.push(Param::token("qop", q.name()));
        }
        if let Some(nc) = self.nc {
            params.push(Param::token("nc", format!("{nc:08x}")));
        }
        params.extend(self.extra.iter().cloned());
        AuthParams {
            scheme: "Digest".to_owned(),
            params,
        }
    }
}

impl fmt::Display for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.to_params().fmt(f)
    }
}

fn extra(p: &AuthParams, known: &[&str]) -> Vec<Param> {
    p.params
        .iter()
        .filter(|q| !known.iter().any(|k| k.eq_ignore_ascii_case(&q.name)))
        .cloned()
        .collect()
}
