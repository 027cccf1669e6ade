//! [`RoutingTable`]: which bot an inbound call reaches, and the [`DataplaneSnapshot`] of bots and
//! DIDs (and enabled web widgets) that control serves and the dataplane loads (or reads from a
//! JSON/TOML file in embedded mode).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

use crate::agent::ProviderEndpoint;
use crate::bot::{BotConfig, DidMapping};
use crate::field::FieldError;
use crate::number;
use crate::widget::WidgetAccess;

/// Everything the dataplane needs to route calls: bots and the numbers that reach them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DataplaneSnapshot {
    /// All bots, active or not.
    #[serde(default)]
    pub bots: Vec<BotConfig>,
    /// Phone numbers mapped to bots.
    #[serde(default)]
    pub dids: Vec<DidMapping>,
    /// Networked providers' endpoints and keys (empty: embedded stack only, or keys from the
    /// dataplane's environment).
    #[serde(default)]
    pub providers: Vec<ProviderEndpoint>,
    /// Enabled web widgets (key hashes and allowed domains); a bot without one takes no widget calls.
    #[serde(default)]
    pub widgets: Vec<WidgetAccess>,
}

/// Why a snapshot cannot become a routing table, or cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// A bot failed validation.
    #[error("bots[{index}]: {source}")]
    Bot {
        /// Position in `bots`.
        index: usize,
        /// The invalid field.
        source: FieldError,
    },
    /// A DID mapping failed validation.
    #[error("dids[{index}]: {source}")]
    Did {
        /// Position in `dids`.
        index: usize,
        /// The invalid field.
        source: FieldError,
    },
    /// A widget failed validation (`widgets[2].bot_id`).
    #[error("widgets[{index}].{source}")]
    Widget {
        /// Position in `widgets`.
        index: usize,
        /// The invalid field.
        source: FieldError,
    },
    /// Two bots share an id.
    #[error("duplicate bot id {id:?}")]
    DuplicateBot {
        /// The id.
        id: String,
    },
    /// Two mappings share a number (compared without `+`).
    #[error("number {number:?} is mapped twice")]
    DuplicateDid {
        /// The normalised number.
        number: String,
    },
    /// A DID points at a bot that is not in the snapshot.
    #[error("number {number:?} maps to unknown bot {bot_id:?}")]
    UnknownBot {
        /// The normalised number.
        number: String,
        /// The missing bot.
        bot_id: String,
    },
    /// The file could not be read.
    #[error("reading {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid JSON for a snapshot.
    #[error("parsing {path} as JSON: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The parse error.
        source: serde_json::Error,
    },
    /// The file is not valid TOML for a snapshot.
    #[error("parsing {path} as TOML: {source}")]
    Toml {
        /// The file.
        path: PathBuf,
        /// The parse error.
        source: toml::de::Error,
    },
}

impl DataplaneSnapshot {
    /// Reads a snapshot from `path`: TOML when the name ends in `.toml`, JSON otherwise.
    pub fn load(path: &Path) -> Result<DataplaneSnapshot, SnapshotError> {
        let text = std::fs::read_to_string(path).map_err(|source| SnapshotError::Io {
            path: path.into(),
            source,
        })?;
        if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("toml")) {
            Self::from_toml(&text).map_err(|source| SnapshotError::Toml {
                path: path.into(),
                source,
            })
        } else {
            serde_json::from_str(&text).map_err(|source| SnapshotError::Json {
                path: path.into(),
                source,
            })
        }
    }

    /// Parses TOML (`[[bots]]` and `[[dids]]` tables).
    pub fn from_toml(text: &str) -> Result<DataplaneSnapshot, toml::de::Error> {
        toml::from_str(text)
    }
}

/// Where an inbound call goes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Route<'a> {
    /// An active bot inside its hours: answer.
    Bot(&'a BotConfig),
    /// The bot exists but is inactive: reject (`disconnected_by=rejected`).
    Inactive(&'a BotConfig),
    /// The bot is active but closed now (`disconnected_by=outside_hours`).
    OutsideHours(&'a BotConfig),
    /// No bot and no number matches: `404 Not Found`.
    Unknown,
}

/// Bots indexed by id and by DID (digits without `+`), with time zones resolved once.
#[derive(Debug, Clone)]
pub struct RoutingTable {
    bots: Vec<BotConfig>,
    zones: Vec<Option<TimeZone>>,
    by_id: HashMap<String, usize>,
    by_did: HashMap<String, usize>,
    providers: Vec<ProviderEndpoint>,
    widgets: HashMap<String, WidgetAccess>,
}

impl SnapshotError {
    /// The offending field as a path from the snapshot root (`bots[2].active_hours.time_zone`,
    /// `widgets[0].bot_id`), for a `422` answer.
    pub fn field(&self) -> String {
        match self {
            SnapshotError::Bot { index, source } => format!("bots[{index}].{}", source.field),
            SnapshotError::Did { index, source } => format!("dids[{index}].{}", source.field),
            SnapshotError::Widget { index, source } => format!("widgets[{index}].{}", source.field),
            SnapshotError::DuplicateBot { .. } => "bots".into(),
            SnapshotError::DuplicateDid { .. } | SnapshotError::UnknownBot { .. } => "dids".into(),
            SnapshotError::Io { .. } | SnapshotError::Json { .. } | SnapshotError::Toml { .. } => "body".into(),
        }
    }
}

impl RoutingTable {
    /// Validates the snapshot (every bot and DID, unique ids and numbers, DIDs pointing at known
    /// bots, at most one widget per known bot) and builds the table. DID numbers are normalised.
    pub fn new(snapshot: DataplaneSnapshot) -> Result<RoutingTable, SnapshotError> {
        let mut by_id = HashMap::with_capacity(snapshot.bots.len());
        let mut zones = Vec::with_capacity(snapshot.bots.len());
        for (index, bot) in snapshot.bots.iter().enumerate() {
            bot.validate().map_err(|source| SnapshotError::Bot { index, source })?;
            if by_id.insert(bot.id.clone(), index).is_some() {
                return Err(SnapshotError::DuplicateBot { id: bot.id.clone() });
            }
            let zone = match &bot.active_hours {
                Some(h) => Some(h.time_zone().map_err(|e| SnapshotError::Bot {
                    index,
                    source: FieldError::new("active_hours.time_zone", e.to_string()),
                })?),
                None => None,
            };
            zones.push(zone);
        }
        let mut by_did = HashMap::with_capacity(snapshot.dids.len());
        for (index, did) in snapshot.dids.iter().enumerate() {
            let did = did
                .normalized()
                .map_err(|source| SnapshotError::Did { index, source })?;
            let Some(&bot) = by_id.get(&did.bot_id) else {
                return Err(SnapshotError::UnknownBot {
                    number: did.number,
                    bot_id: did.bot_id,
                });
            };
            if by_did.insert(number::digits_key(&did.number).to_owned(), bot).is_some() {
                return Err(SnapshotError::DuplicateDid { number: did.number });
            }
        }
        let mut widgets = HashMap::with_capacity(snapshot.widgets.len());
        for (index, w) in snapshot.widgets.into_iter().enumerate() {
            let err = |field: &'static str, message: &str| SnapshotError::Widget {
                index,
                source: FieldError::new(field, message.to_owned()),
            };
            w.validate().map_err(|source| SnapshotError::Widget { index, source })?;
            if !by_id.contains_key(&w.bot_id) {
                return Err(err("bot_id", "is not a bot of the snapshot"));
            }
            if widgets.contains_key(&w.bot_id) {
                return Err(err("bot_id", "has a widget already"));
            }
            widgets.insert(w.bot_id.clone(), w);
        }
        Ok(RoutingTable {
            bots: snapshot.bots,
            zones,
            by_id,
            by_did,
            providers: snapshot.providers,
            widgets,
        })
    }

    /// The networked providers' endpoints of the snapshot.
    pub fn providers(&self) -> &[ProviderEndpoint] {
        &self.providers
    }

    /// Resolves a SIP request user (bot id, or a DID with or without `+` and separators; URI
    /// parameters after `;` are ignored) at the current time.
    pub fn resolve(&self, request_user: &str) -> Route<'_> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        self.resolve_at(request_user, now)
    }

    /// [`RoutingTable::resolve`] at `unix_secs`.
    pub fn resolve_at(&self, request_user: &str, unix_secs: i64) -> Route<'_> {
        let user = request_user.split(';').next().unwrap_or("").trim();
        let index = match self.by_id.get(user) {
            Some(&i) => Some(i),
            None => number::normalize(user)
                .ok()
                .and_then(|n| self.by_did.get(number::digits_key(&n)).copied()),
        };
        let Some(i) = index else {
            return Route::Unknown;
        };
        let bot = &self.bots[i];
        if !bot.active {
            return Route::Inactive(bot);
        }
        let open = match (&bot.active_hours, &self.zones[i]) {
            (Some(hours), Some(tz)) => hours.is_open_in(tz, unix_secs),
            _ => true,
        };
        if open {
            Route::Bot(bot)
        } else {
            Route::OutsideHours(bot)
        }
    }

    /// The bot with this id, regardless of state (dial-out looks bots up this way).
    pub fn bot(&self, id: &str) -> Option<&BotConfig> {
        self.by_id.get(id).map(|&i| &self.bots[i])
    }

    /// The enabled widget of this bot, if any.
    pub fn widget(&self, bot_id: &str) -> Option<&WidgetAccess> {
        self.widgets.get(bot_id)
    }

    /// All bots in snapshot order.
    pub fn bots(&self) -> &[BotConfig] {
        &self.bots
    }
}

#[cfg(test)]
mod tests;
