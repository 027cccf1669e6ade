//! Bot configuration: who answers, how, and when ([`BotConfig`], [`ActiveHours`]), and which
//! phone numbers reach which bot ([`DidMapping`]).

use std::collections::BTreeMap;
use std::fmt;

use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

use crate::agent::{
    self, Behavior, CrmPrefetch, CrmPush, KnowledgeDoc, MAX_PROMPT_LEN, PipelineConfig, PolicyStep, ToolConfig,
    TransferTarget, VoicemailAction, VoicemailConfig,
};
use crate::field::FieldError;
use crate::number;

/// Free-form variables (`call.*` template namespace): names to JSON values.
pub type Variables = BTreeMap<String, serde_json::Value>;

/// Longest bot id (it is used as a SIP request user).
pub const MAX_BOT_ID_LEN: usize = 64;
/// Longest answer delay accepted, in milliseconds.
pub const MAX_ANSWER_DELAY_MS: u32 = 60_000;
/// Longest call limit accepted, in seconds (one day).
pub const MAX_CALL_SECONDS: u32 = 86_400;

/// How an inbound call is answered before the bot picks up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ring {
    /// `180 Ringing`: the caller's network plays its own ringback.
    #[default]
    Ringing,
    /// `183 Session Progress` with SDP: we play ringback as early media.
    EarlyMedia,
}

impl Ring {
    /// The provisional SIP status this ring mode sends (180 or 183).
    pub fn status_code(self) -> u16 {
        match self {
            Ring::Ringing => 180,
            Ring::EarlyMedia => 183,
        }
    }
}

/// One bot as control stores it and the dataplane runs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BotConfig {
    /// Stable id; also a SIP request user that reaches the bot (`sip:<id>@host`).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Inactive bots reject calls (`disconnected_by=rejected`).
    #[serde(default = "default_true")]
    pub active: bool,
    /// What the bot says first (a template; may be empty to wait for the caller).
    #[serde(default)]
    pub opening_message: String,
    /// BCP 47 language tag for STT/TTS, e.g. `en-US`.
    #[serde(default = "default_language")]
    pub language: String,
    /// Provider voice id (empty: the provider's default).
    #[serde(default)]
    pub voice: String,
    /// When the bot takes calls; `None` means always.
    #[serde(default)]
    pub active_hours: Option<ActiveHours>,
    /// Delay between the INVITE and the 200 OK, in milliseconds.
    #[serde(default)]
    pub answer_delay_ms: u32,
    /// Provisional response while the answer is delayed.
    #[serde(default)]
    pub ring: Ring,
    /// Whether calls are recorded.
    #[serde(default)]
    pub record: bool,
    /// Hard limit on the call length, in seconds (`disconnected_by=timeout` when reached).
    #[serde(default = "default_max_call_seconds")]
    pub max_call_seconds: u32,
    /// Bot-level variables, merged under the call's own.
    #[serde(default)]
    pub variables: Variables,
    /// Instructions for the language model (a template).
    #[serde(default)]
    pub system_prompt: String,
    /// Ordered steps/goals the bot follows (shown to the LLM, spoken by the local responder,
    /// checked by QC); may be empty.
    #[serde(default)]
    pub policy: Vec<PolicyStep>,
    /// STT, LLM and TTS providers.
    #[serde(default)]
    pub pipeline: PipelineConfig,
    /// Re-engagement, closing, VAD and barge-in settings.
    #[serde(default)]
    pub behavior: Behavior,
    /// Function tools (webhooks) besides the built-in `end_call` and `transfer_call`.
    #[serde(default)]
    pub tools: Vec<ToolConfig>,
    /// Where `transfer_call` may send the caller.
    #[serde(default)]
    pub transfer_targets: Vec<TransferTarget>,
    /// Voicemail detection and what to do on a machine.
    #[serde(default)]
    pub voicemail: VoicemailConfig,
    /// SIP headers of the INVITE copied into `call.sip_headers` (others are never exposed).
    #[serde(default)]
    pub allowed_sip_headers: Vec<String>,
    /// CRM data fetched at call start into `crm.*`.
    #[serde(default)]
    pub crm_prefetch: Option<CrmPrefetch>,
    /// Post-call push of the result to the CRM.
    #[serde(default)]
    pub crm_push: Option<CrmPush>,
    /// Documents the bot answers from.
    #[serde(default)]
    pub knowledge_base: Vec<KnowledgeDoc>,
    /// Post-call analysis prompt (JSON output into `analysis.*`); empty: none.
    #[serde(default)]
    pub analysis_prompt: String,
    /// Quality-check prompt (JSON output into `qc.*`); empty: none.
    #[serde(default)]
    pub qc_prompt: String,
}

fn default_true() -> bool {
    true
}

fn default_language() -> String {
    "en-US".to_owned()
}

fn default_max_call_seconds() -> u32 {
    3600
}

impl BotConfig {
    /// A bot with defaults for everything but its id and name.
    pub fn new(id: impl Into<String>, name: impl Into<String>) -> BotConfig {
        BotConfig {
            id: id.into(),
            name: name.into(),
            active: true,
            opening_message: String::new(),
            language: default_language(),
            voice: String::new(),
            active_hours: None,
            answer_delay_ms: 0,
            ring: Ring::Ringing,
            record: false,
            max_call_seconds: default_max_call_seconds(),
            variables: Variables::new(),
            system_prompt: String::new(),
            policy: Vec::new(),
            pipeline: PipelineConfig::default(),
            behavior: Behavior::default(),
            tools: Vec::new(),
            transfer_targets: Vec::new(),
            voicemail: VoicemailConfig::default(),
            allowed_sip_headers: Vec::new(),
            crm_prefetch: None,
            crm_push: None,
            knowledge_base: Vec::new(),
            analysis_prompt: String::new(),
            qc_prompt: String::new(),
        }
    }

    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), FieldError> {
        validate_bot_id(&self.id, "id")?;
        if self.name.trim().is_empty() {
            return Err(FieldError::new("name", "must not be empty"));
        }
        if self.language.is_empty()
            || self.language.len() > 35
            || !self
                .language
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(FieldError::new("language", "must be a language tag such as en-US"));
        }
        if self.answer_delay_ms > MAX_ANSWER_DELAY_MS {
            return Err(FieldError::new(
                "answer_delay_ms",
                format!("must be at most {MAX_ANSWER_DELAY_MS}"),
            ));
        }
        if self.max_call_seconds == 0 || self.max_call_seconds > MAX_CALL_SECONDS {
            return Err(FieldError::new(
                "max_call_seconds",
                format!("must be 1 to {MAX_CALL_SECONDS}"),
            ));
        }
        if let Some(hours) = &self.active_hours {
            hours.validate()?;
        }
        if self.system_prompt.len() > MAX_PROMPT_LEN {
            return Err(FieldError::new(
                "system_prompt",
                format!("must be at most {MAX_PROMPT_LEN} bytes"),
            ));
        }
        for (i, step) in self.policy.iter().enumerate() {
            if step.name.trim().is_empty() {
                return Err(FieldError::new(format!("policy[{i}].name"), "must not be empty"));
            }
        }
        self.pipeline.validate()?;
        self.behavior.validate()?;
        agent::validate_tools(&self.tools)?;
        agent::validate_transfer_targets(&self.transfer_targets)?;
        agent::validate_sip_headers(&self.allowed_sip_headers)?;
        if let Some(p) = &self.crm_prefetch {
            agent::validate_url(&p.url, "crm_prefetch.url".to_owned())?;
            if p.timeout_ms == 0 || p.timeout_ms > 30_000 {
                return Err(FieldError::new("crm_prefetch.timeout_ms", "must be 1 to 30000"));
            }
        }
        if let Some(p) = &self.crm_push {
            agent::validate_url(&p.url, "crm_push.url".to_owned())?;
        }
        agent::validate_knowledge(&self.knowledge_base)?;
        if self.voicemail.action == VoicemailAction::LeaveMessage && self.voicemail.message.trim().is_empty() {
            return Err(FieldError::new(
                "voicemail.message",
                "is required when action is leave_message",
            ));
        }
        Ok(())
    }

    /// Whether the bot takes calls at `unix_secs` (always when it has no active hours).
    pub fn is_open_at(&self, unix_secs: i64) -> bool {
        self.active_hours.as_ref().is_none_or(|h| h.is_open_at(unix_secs))
    }
}

/// Checks a bot id: 1 to [`MAX_BOT_ID_LEN`] characters of `A-Z a-z 0-9 _ . -`.
pub fn validate_bot_id(id: &str, field: &'static str) -> Result<(), FieldError> {
    if id.is_empty() || id.len() > MAX_BOT_ID_LEN {
        return Err(FieldError::new(
            field,
            format!("must be 1 to {MAX_BOT_ID_LEN} characters"),
        ));
    }
    if !id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
    {
        return Err(FieldError::new(
            field,
            "may contain only letters, digits, '_', '.' and '-'",
        ));
    }
    Ok(())
}

/// A phone number (DID) that reaches a bot. `number` is kept normalised (see [`crate::number`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DidMapping {
    /// The number, E.164-ish: optional `+`, 3 to 15 digits.
    pub number: String,
    /// The bot it reaches.
    pub bot_id: String,
}

impl DidMapping {
    /// A mapping with `number` normalised (spaces, dashes, dots, parentheses removed; `+` kept).
    pub fn new(number: &str, bot_id: impl Into<String>) -> Result<DidMapping, FieldError> {
        let number = number::normalize(number).map_err(|e| FieldError::new("number", e.to_string()))?;
        let did = DidMapping {
            number,
            bot_id: bot_id.into(),
        };
        did.validate()?;
        Ok(did)
    }

    /// Checks the number (after normalisation) and the bot id.
    pub fn validate(&self) -> Result<(), FieldError> {
        number::normalize(&self.number).map_err(|e| FieldError::new("number", e.to_string()))?;
        validate_bot_id(&self.bot_id, "bot_id")
    }

    /// This mapping with its number normalised.
    pub fn normalized(&self) -> Result<DidMapping, FieldError> {
        DidMapping::new(&self.number, self.bot_id.clone())
    }
}

/// A day of the week, serialised as `mon` … `sun` (full names are accepted too).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Weekday {
    /// Monday.
    #[serde(alias = "monday")]
    Mon,
    /// Tuesday.
    #[serde(alias = "tuesday")]
    Tue,
    /// Wednesday.
    #[serde(alias = "wednesday")]
    Wed,
    /// Thursday.
    #[serde(alias = "thursday")]
    Thu,
    /// Friday.
    #[serde(alias = "friday")]
    Fri,
    /// Saturday.
    #[serde(alias = "saturday")]
    Sat,
    /// Sunday.
    #[serde(alias = "sunday")]
    Sun,
}

impl Weekday {
    fn from_jiff(w: jiff::civil::Weekday) -> Weekday {
        use jiff::civil::Weekday as J;
        match w {
            J::Monday => Weekday::Mon,
            J::Tuesday => Weekday::Tue,
            J::Wednesday => Weekday::Wed,
            J::Thursday => Weekday::Thu,
            J::Friday => Weekday::Fri,
            J::Saturday => Weekday::Sat,
            J::Sunday => Weekday::Sun,
        }
    }

    /// The day before.
    pub fn previous(self) -> Weekday {
        match self {
            Weekday::Mon => Weekday::Sun,
            Weekday::Tue => Weekday::Mon,
            Weekday::Wed => Weekday::Tue,
            Weekday::Thu => Weekday::Wed,
            Weekday::Fri => Weekday::Thu,
            Weekday::Sat => Weekday::Fri,
            Weekday::Sun => Weekday::Sat,
        }
    }
}

/// A wall-clock time of day, `"HH:MM"` in JSON; `"24:00"` is allowed as a window end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ClockTime {
    minutes: u16,
}

impl ClockTime {
    /// Midnight at the start of the day.
    pub const MIDNIGHT: ClockTime = ClockTime { minutes: 0 };
    /// `24:00`, the end of the day.
    pub const END_OF_DAY: ClockTime = ClockTime { minutes: 24 * 60 };

    /// `hour:minute`; `24:00` is the only time with hour 24.
    pub fn new(hour: u8, minute: u8) -> Result<ClockTime, HoursError> {
        let minutes = u16::from(hour) * 60 + u16::from(minute);
        if minute > 59 || minutes > 24 * 60 {
            return Err(HoursError::BadClock { hour, minute });
        }
        Ok(ClockTime { minutes })
    }

    /// Minutes since midnight (0 to 1440).
    pub fn minutes(self) -> u16 {
        self.minutes
    }
}

impl fmt::Display for ClockTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.minutes / 60, self.minutes % 60)
    }
}

impl std::str::FromStr for ClockTime {
    type Err = HoursError;

    fn from_str(s: &str) -> Result<ClockTime, HoursError> {
        let bad = || HoursError::BadClockText { text: s.to_owned() };
        let (h, m) = s.split_once(':').ok_or_else(bad)?;
        if h.is_empty() || h.len() > 2 || m.len() != 2 {
            return Err(bad());
        }
        let hour: u8 = h.parse().map_err(|_| bad())?;
        let minute: u8 = m.parse().map_err(|_| bad())?;
        ClockTime::new(hour, minute)
    }
}

impl TryFrom<String> for ClockTime {
    type Error = HoursError;

    fn try_from(s: String) -> Result<ClockTime, HoursError> {
        s.parse()
    }
}

impl From<ClockTime> for String {
    fn from(t: ClockTime) -> String {
        t.to_string()
    }
}

/// Why active hours are invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HoursError {
    /// Not `HH:MM`.
    #[error("time {text:?} is not HH:MM")]
    BadClockText {
        /// The text given.
        text: String,
    },
    /// Hour or minute out of range.
    #[error("time {hour}:{minute:02} is out of range")]
    BadClock {
        /// Hour given.
        hour: u8,
        /// Minute given.
        minute: u8,
    },
    /// The IANA time zone is not in the system tz database.
    #[error("unknown time zone {name:?}")]
    UnknownTimeZone {
        /// The name given.
        name: String,
    },
}

/// A weekly window: on each of `days`, open from `start` to `end` local time. When `end` is not
/// after `start` the window runs overnight into the next day (`22:00`–`06:00`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WeeklyWindow {
    /// Days the window opens on.
    pub days: Vec<Weekday>,
    /// Opening time (inclusive).
    pub start: ClockTime,
    /// Closing time (exclusive); `24:00` for the end of the day.
    pub end: ClockTime,
}

impl WeeklyWindow {
    fn contains(&self, day: Weekday, minute: u16) -> bool {
        let (start, end) = (self.start.minutes, self.end.minutes);
        if start < end {
            self.days.contains(&day) && (start..end).contains(&minute)
        } else {
            (self.days.contains(&day) && minute >= start) || (self.days.contains(&day.previous()) && minute < end)
        }
    }
}

/// When a bot takes calls: an IANA time zone (resolved with the system tz database) and weekly windows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActiveHours {
    /// IANA time zone name, e.g. `Europe/Berlin`.
    pub time_zone: String,
    /// Open windows; the bot is open when any contains the local time.
    pub windows: Vec<WeeklyWindow>,
}

impl ActiveHours {
    /// Looks the time zone up in the system tz database.
    pub fn time_zone(&self) -> Result<TimeZone, HoursError> {
        TimeZone::get(&self.time_zone).map_err(|_| HoursError::UnknownTimeZone {
            name: self.time_zone.clone(),
        })
    }

    /// Checks the time zone exists and each window has days and is not empty.
    pub fn validate(&self) -> Result<(), FieldError> {
        self.time_zone()
            .map_err(|e| FieldError::new("active_hours.time_zone", e.to_string()))?;
        if self.windows.is_empty() {
            return Err(FieldError::new("active_hours.windows", "at least one window is needed"));
        }
        for w in &self.windows {
            if w.days.is_empty() {
                return Err(FieldError::new(
                    "active_hours.windows.days",
                    "a window needs at least one day",
                ));
            }
            if w.start == w.end || w.start == ClockTime::END_OF_DAY {
                return Err(FieldError::new(
                    "active_hours.windows.end",
                    "a window must not be empty",
                ));
            }
        }
        Ok(())
    }

    /// Whether the bot is open at `unix_secs`. An unknown time zone counts as closed (validation
    /// rejects it earlier).
    pub fn is_open_at(&self, unix_secs: i64) -> bool {
        match self.time_zone() {
            Ok(tz) => self.is_open_in(&tz, unix_secs),
            Err(_) => false,
        }
    }

    /// Whether the bot is open at `unix_secs` with `tz` already resolved (see [`ActiveHours::time_zone`]).
    pub fn is_open_in(&self, tz: &TimeZone, unix_secs: i64) -> bool {
        let Ok(ts) = jiff::Timestamp::from_second(unix_secs) else {
            return false;
        };
        let local = tz.to_datetime(ts);
        let day = Weekday::from_jiff(local.weekday());
        let minute = local.hour() as u16 * 60 + local.minute() as u16;
        self.windows.iter().any(|w| w.contains(day, minute))
    }
}

#[cfg(test)]
mod tests;
