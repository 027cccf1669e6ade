//! SIP Digest authentication (RFC 2617, RFC 7616, RFC 8760) and source-address ACLs, sans-IO.
//!
//! - Syntax: [`AuthParams`] parses and prints any `scheme param=value, …` header value;
//!   [`Challenge`] and [`Credentials`] are the typed Digest views.
//! - UAC: [`DigestClient::respond`] answers a 401/407 with `Authorization` /
//!   `Proxy-Authorization` values; `nc` per nonce, `stale=true` retries, loop protection.
//! - UAS: [`DigestServer`] issues stateless nonces and verifies credentials against
//!   [`StoredCredential`] (HA1 only), with [`NonceCounts`] for replay protection.
//! - [`IpAcl`]: allow/deny CIDR lists for inbound trunks.
//!
//! Time (`now`, seconds) and random bytes (`cnonce`, server secret) are inputs.
//!
//! ```
//! use cxb_sip::auth::*;
//!
//! // Server (inbound trunk): challenge, then verify against a stored HA1.
//! let server = DigestServer::new("trunk.example", b"random secret from config", 300);
//! let now = 1_763_700_000; // seconds, from the caller's clock
//! let challenge = server.challenges(now, false)[0].to_string(); // WWW-Authenticate value
//!
//! // Client (outbound trunk): answer the 401 with a fresh cnonce.
//! let mut client = DigestClient::new("carrier1", "s3cret");
//! let req = Request { method: "INVITE", uri: "sip:+15551234567@trunk.example", body: None };
//! let cnonce = cnonce_from_random(&[0x5a; 8]); // random bytes from the caller
//! let headers = client.respond(ChallengeKind::Www, &[challenge.as_bytes()], &req, &cnonce).unwrap();
//! let value = headers[0].credentials.to_string(); // Authorization value
//!
//! let stored = StoredCredential::from_password("carrier1", "trunk.example", "s3cret");
//! let mut counts = NonceCounts::new(1024);
//! let ok = server.verify(value.as_bytes(), "INVITE", req.uri, now + 1, |_| Some(stored), &mut counts);
//! assert_eq!(ok.unwrap().username, "carrier1");
//! ```

mod acl;
mod client;
mod digest;
mod hash;
mod params;
mod server;
#[cfg(test)]
mod tests;

pub use acl::{Cidr, CidrError, IpAcl};
pub use client::{AuthorizationHeader, ChallengeKind, ClientError, DigestClient, Request, cnonce_from_random};
pub use digest::{Algorithm, Challenge, Credentials, DigestError, HashKind, Qop};
pub use hash::{ResponseInput, constant_time_eq, ha1, response};
pub use params::{AuthParams, MAX_CHALLENGES, MAX_PARAMS, MAX_VALUE_LEN, Param, ParseError};
pub use server::{DigestServer, NonceCounts, StoredCredential, Verified, VerifyError};
