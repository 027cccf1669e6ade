//! [`DialRequest`]: a REST request to place a call, validated field by field ([`FieldError`]
//! names the field for the `422`), and the [`DialAccepted`] answer.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::bot::{Variables, validate_bot_id};
use crate::field::FieldError;
use crate::number;

/// Transport to a SIP trunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TrunkTransport {
    /// SIP over UDP.
    #[default]
    Udp,
    /// SIP over TCP.
    Tcp,
}

/// A SIP trunk given with the request instead of the node's default.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrunkSettings {
    /// `host:port` (IPv6 as `[addr]:port`).
    pub address: String,
    /// UDP or TCP.
    #[serde(default)]
    pub transport: TrunkTransport,
    /// Digest user, if the trunk challenges.
    #[serde(default)]
    pub username: Option<String>,
    /// Digest password (never printed by `Debug`).
    #[serde(default)]
    pub password: Option<String>,
    /// Caller id to present (From user), if not `from_number`.
    #[serde(default)]
    pub caller_id: Option<String>,
}

impl fmt::Debug for TrunkSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrunkSettings")
            .field("address", &self.address)
            .field("transport", &self.transport)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("caller_id", &self.caller_id)
            .finish()
    }
}

impl TrunkSettings {
    /// Checks the address (`host:port`, port 1–65535), and that user and password come together.
    pub fn validate(&self) -> Result<(), FieldError> {
        const F: &str = "trunk.address";
        let (host, port) = self
            .address
            .rsplit_once(':')
            .ok_or_else(|| FieldError::new(F, "must be host:port"))?;
        match port.parse::<u16>() {
            Ok(p) if p > 0 => {}
            _ => return Err(FieldError::new(F, "port must be 1 to 65535")),
        }
        let host_ok = if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            v6.parse::<std::net::Ipv6Addr>().is_ok()
        } else {
            !host.is_empty()
                && host.len() <= 253
                && host.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        };
        if !host_ok {
            return Err(FieldError::new(F, "host must be a name, an IPv4 address or [IPv6]"));
        }
        match (&self.username, &self.password) {
            (Some(u), _) if u.is_empty() => Err(FieldError::new("trunk.username", "must not be empty")),
            (Some(_), None) => Err(FieldError::new("trunk.password", "is required with a username")),
            (None, Some(_)) => Err(FieldError::new("trunk.username", "is required with a password")),
            _ => match &self.caller_id {
                Some(c) if c.is_empty() || c.chars().any(|c| c.is_control() || c == '"') => Err(FieldError::new(
                    "trunk.caller_id",
                    "must be non-empty printable text without quotes",
                )),
                _ => Ok(()),
            },
        }
    }
}

/// `POST /v1/calls`: place a call from a bot to a number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DialRequest {
    /// The bot that talks.
    pub bot_id: String,
    /// Who to call.
    pub to_number: String,
    /// Number to call from (the trunk's default if absent).
    #[serde(default)]
    pub from_number: Option<String>,
    /// Call variables (`call.*`).
    #[serde(default)]
    pub variables: Variables,
    /// A trunk for this call instead of the node's default.
    #[serde(default)]
    pub trunk: Option<TrunkSettings>,
}

impl DialRequest {
    /// Checks every field; the error names the first bad one (`bot_id`, `to_number`,
    /// `from_number`, `trunk.address`, …).
    pub fn validate(&self) -> Result<(), FieldError> {
        validate_bot_id(&self.bot_id, "bot_id")?;
        number::normalize(&self.to_number).map_err(|e| FieldError::new("to_number", e.to_string()))?;
        if let Some(from) = &self.from_number {
            number::normalize(from).map_err(|e| FieldError::new("from_number", e.to_string()))?;
        }
        if let Some(trunk) = &self.trunk {
            trunk.validate()?;
        }
        Ok(())
    }

    /// This request validated, with its numbers normalised.
    pub fn normalized(mut self) -> Result<DialRequest, FieldError> {
        self.validate()?;
        self.to_number = number::normalize(&self.to_number).map_err(|e| FieldError::new("to_number", e.to_string()))?;
        if let Some(from) = &self.from_number {
            self.from_number =
                Some(number::normalize(from).map_err(|e| FieldError::new("from_number", e.to_string()))?);
        }
        Ok(self)
    }
}

/// Answer to an accepted dial request (`202`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DialAccepted {
    /// The new call's session id (its [`crate::CallRecord`] will carry it).
    pub session_id: String,
    /// The shard that places the call.
    pub shard: u32,
}

#[cfg(test)]
mod tests;
