-- cxb control core schema. Portable SQL (SQLite and PostgreSQL): TEXT and BIGINT only,
-- booleans as 0/1, times as unix milliseconds, JSON as TEXT, random TEXT ids.

CREATE TABLE bots (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    active BIGINT NOT NULL,
    config_json TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);

CREATE TABLE dids (
    number TEXT PRIMARY KEY,
    bot_id TEXT NOT NULL
);
CREATE INDEX dids_bot ON dids (bot_id);

CREATE TABLE campaigns (
    id TEXT PRIMARY KEY,
    bot_id TEXT NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL
);
CREATE INDEX campaigns_bot ON campaigns (bot_id, status);

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL
);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    expires_at_ms BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    prefix TEXT NOT NULL,
    admin BIGINT NOT NULL,
    bot_ids_json TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    last_used_at_ms BIGINT NULL
);

CREATE TABLE trunks (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    host TEXT NOT NULL,
    port BIGINT NOT NULL,
    transport TEXT NOT NULL,
    username TEXT NULL,
    password_enc TEXT NULL,
    default_from_number TEXT NOT NULL,
    number_pool_json TEXT NOT NULL,
    is_default BIGINT NOT NULL
);

CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value_json TEXT NOT NULL
);

CREATE TABLE provider_keys (
    kind TEXT PRIMARY KEY,
    base_url TEXT NOT NULL,
    api_key_enc TEXT NULL
);

CREATE TABLE widgets (
    bot_id TEXT PRIMARY KEY,
    enabled BIGINT NOT NULL,
    allowed_domains_json TEXT NOT NULL,
    widget_key TEXT NOT NULL
);

CREATE TABLE calls (
    session_id TEXT PRIMARY KEY,
    bot_id TEXT NOT NULL,
    direction TEXT NOT NULL,
    status TEXT NOT NULL,
    disconnected_by TEXT NOT NULL,
    from_number TEXT NULL,
    to_number TEXT NULL,
    started_at TEXT NOT NULL,
    started_at_ms BIGINT NOT NULL,
    duration_seconds BIGINT NOT NULL,
    is_test BIGINT NOT NULL,
    record_json TEXT NOT NULL,
    analysis_json TEXT NULL,
    qc_json TEXT NULL,
    integration_log_json TEXT NOT NULL,
    postcall_usage_json TEXT NULL,
    created_at_ms BIGINT NOT NULL
);
CREATE INDEX calls_started ON calls (started_at_ms);
CREATE INDEX calls_bot_started ON calls (bot_id, started_at_ms);
