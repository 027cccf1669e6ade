//! `cxb-model`: serde types shared by the dataplane and control: bot configuration, call
//! records and the fleet shared-memory layout.
//!
//! - [`bot`]: [`BotConfig`], [`ActiveHours`], [`DidMapping`].
//! - [`routing`]: [`RoutingTable`] (request user → [`Route`]) and the [`DataplaneSnapshot`] that control serves.
//! - [`record`]: [`CallRecord`], the result of one call as the API shows it.
//! - [`dial`]: [`DialRequest`] (REST dial-out) and [`DialAccepted`].
//! - [`fleet`]: the versioned shared-memory capacity segment ([`FleetWriter`], [`FleetReader`]).
//! - [`field`]: [`FieldError`], the validation error that names the offending field (HTTP 422).
//! - [`template`]: `{{namespace.field}}` templates ([`template::render`], [`template::TemplateContext`]).
//! - [`widget`]: [`WidgetAccess`], the web widget's key hash and allowed domains, and its checks.
#![deny(unsafe_code)]

pub mod agent;
pub mod bot;
pub mod demo;
pub mod dial;
pub mod field;
pub mod fleet;
pub mod number;
pub mod record;
pub mod routing;
pub mod template;
pub mod widget;

pub use agent::{
    Behavior, CrmPrefetch, CrmPush, HttpMethod, KnowledgeDoc, PipelineConfig, PolicyStep, ProviderEndpoint,
    ProviderKind, StageConfig, ToolConfig, TransferTarget, VadSettings, VoicemailAction, VoicemailConfig,
};
pub use bot::{ActiveHours, BotConfig, ClockTime, DidMapping, HoursError, Ring, Variables, Weekday, WeeklyWindow};
pub use dial::{DialAccepted, DialRequest, TrunkSettings, TrunkTransport};
pub use field::FieldError;
pub use fleet::{FleetError, FleetReader, FleetSnapshot, FleetTotals, FleetWriter, ShardSlot, ShardStatus};
pub use record::{
    AmdResult, AmdVerdict, CallDirection, CallEvent, CallEventKind, CallQuality, CallRecord, CallUsage, DisconnectedBy,
    KnowledgeSearch, ServiceError, ServiceKind, ToolCallRecord, ToolCallStatus, TranscriptEntry, TranscriptRole,
    TransferMethod, TurnLatency,
};
pub use routing::{DataplaneSnapshot, Route, RoutingTable, SnapshotError};
pub use widget::WidgetAccess;

/// The instant type of [`CallRecord`] times (RFC 3339 in JSON), re-exported so users need no
/// direct `jiff` dependency.
pub use jiff::Timestamp;
