-- Post-call pipeline: durable job queue, per-bot prompt-cache state, CRM integration log.
-- Portable SQL (SQLite and PostgreSQL): TEXT and BIGINT only, times as unix milliseconds.

CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    call_id TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    run_after_ms BIGINT NOT NULL,
    last_error TEXT NULL,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);
CREATE INDEX jobs_due ON jobs (state, run_after_ms);
CREATE INDEX jobs_call ON jobs (call_id);

CREATE TABLE bot_cache (
    bot_id TEXT PRIMARY KEY,
    enabled BIGINT NOT NULL,
    version BIGINT NOT NULL,
    refreshed_by TEXT NULL,
    refreshed_at_ms BIGINT NULL
);

CREATE TABLE integration_log (
    id TEXT PRIMARY KEY,
    call_id TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    kind TEXT NOT NULL,
    attempt BIGINT NOT NULL,
    status TEXT NOT NULL,
    http_status BIGINT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX integration_log_call ON integration_log (call_id, at_ms);
