//! [`Metrics`]: a small Prometheus registry (text exposition format 0.0.4) for `/metrics`:
//! requests by route and status, dial-outs by result status (and accepted/refused by reason), call
//! records ingested and duplicates ignored, post-call jobs by kind and outcome, CRM push attempts
//! by outcome.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Control-process counters. Counting takes a short lock per HTTP request (never on a media path).
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    dialout_accepted: AtomicU64,
    dialout_refused: Mutex<BTreeMap<String, u64>>,
    dialout_status: Mutex<BTreeMap<String, u64>>,
    calls_ingested: AtomicU64,
    calls_duplicate: AtomicU64,
    jobs: Mutex<BTreeMap<(String, String), u64>>,
    crm_push: Mutex<BTreeMap<String, u64>>,
}

/// Counts one more for `label` (allocates the label only the first time it is seen).
fn bump(m: &Mutex<BTreeMap<String, u64>>, label: &str) {
    if let Ok(mut m) = m.lock() {
        match m.get_mut(label) {
            Some(n) => *n += 1,
            None => {
                m.insert(label.to_owned(), 1);
            }
        }
    }
}

impl Metrics {
    /// One HTTP request answered: `route` is the matched path template (`/api/v1/bots/{id}`).
    pub fn record_request(&self, method: &str, route: &str, status: u16) {
        if let Ok(mut m) = self.requests.lock() {
            *m.entry((method.to_owned(), route.to_owned(), status)).or_default() += 1;
        }
    }

    /// A dial-out was accepted.
    pub fn dialout_accepted(&self) {
        self.dialout_accepted.fetch_add(1, Ordering::Relaxed);
    }

    /// A dial-out was refused; `reason` is a short label (`no_capacity`, `outside_hours`, `invalid`).
    pub fn dialout_refused(&self, reason: &str) {
        bump(&self.dialout_refused, reason);
    }

    /// A dial-out request was answered: `status` is `ok` or the HTTP status (`401`, `404`, `422`,
    /// `503`…).
    pub fn dialout_status(&self, status: &str) {
        bump(&self.dialout_status, status);
    }

    /// A call document was sent again and ignored (its session id is stored already).
    pub fn call_duplicate(&self) {
        self.calls_duplicate.fetch_add(1, Ordering::Relaxed);
    }

    /// One CRM push attempt: `outcome` is `ok`, `http_error`, `transport` or `bad_url`.
    pub fn crm_push(&self, outcome: &str) {
        bump(&self.crm_push, outcome);
    }

    /// A new call document was ingested.
    pub fn call_ingested(&self) {
        self.calls_ingested.fetch_add(1, Ordering::Relaxed);
    }

    /// A post-call job finished: `kind` (`analysis`, `crm_push`…), `outcome` (`done`, `failed`, `retry`).
    pub fn job(&self, kind: &str, outcome: &str) {
        if let Ok(mut m) = self.jobs.lock() {
            *m.entry((kind.to_owned(), outcome.to_owned())).or_default() += 1;
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        header(
            &mut out,
            "cxb_http_requests_total",
            "HTTP requests answered by control.",
        );
        if let Ok(m) = self.requests.lock() {
            for ((method, route, status), n) in m.iter() {
                let _ = writeln!(
                    out,
                    "cxb_http_requests_total{{method=\"{}\",route=\"{}\",status=\"{status}\"}} {n}",
                    esc(method),
                    esc(route)
                );
            }
        }
        plain(
            &mut out,
            "cxb_dialout_accepted_total",
            "Dial-out requests accepted.",
            &self.dialout_accepted,
        );
        by_label(
            &mut out,
            "cxb_dialout_refused_total",
            "Dial-out requests refused, by reason.",
            "reason",
            &self.dialout_refused,
        );
        by_label(
            &mut out,
            "cxb_dialout_total",
            "Dial-out requests by result status.",
            "status",
            &self.dialout_status,
        );
        plain(
            &mut out,
            "cxb_calls_ingested_total",
            "Call documents ingested from dataplanes.",
            &self.calls_ingested,
        );
        plain(
            &mut out,
            "cxb_calls_duplicate_total",
            "Call documents ignored as already stored.",
            &self.calls_duplicate,
        );
        header(
            &mut out,
            "cxb_postcall_jobs_total",
            "Post-call jobs finished, by kind and outcome.",
        );
        if let Ok(m) = self.jobs.lock() {
            for ((kind, outcome), n) in m.iter() {
                let _ = writeln!(
                    out,
                    "cxb_postcall_jobs_total{{kind=\"{}\",outcome=\"{}\"}} {n}",
                    esc(kind),
                    esc(outcome)
                );
            }
        }
        by_label(
            &mut out,
            "cxb_crm_push_total",
            "CRM push attempts by outcome.",
            "outcome",
            &self.crm_push,
        );
        out
    }
}

/// The `# HELP` and `# TYPE … counter` lines of a metric.
fn header(out: &mut String, name: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
}

/// A counter without labels.
fn plain(out: &mut String, name: &str, help: &str, value: &AtomicU64) {
    header(out, name, help);
    let _ = writeln!(out, "{name} {}", value.load(Ordering::Relaxed));
}

/// A counter with one label.
fn by_label(out: &mut String, name: &str, help: &str, label: &str, counts: &Mutex<BTreeMap<String, u64>>) {
    header(out, name, help);
    if let Ok(m) = counts.lock() {
        for (value, n) in m.iter() {
            let _ = writeln!(out, "{name}{{{label}=\"{}\"}} {n}", esc(value));
        }
    }
}

/// Escapes a label value (`\`, `"`, newline).
fn esc(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_with_labels() {
        let m = Metrics::default();
        m.record_request("GET", "/api/v1/bots", 200);
        m.record_request("GET", "/api/v1/bots", 200);
        m.dialout_accepted();
        m.dialout_refused("no_capacity");
        m.call_ingested();
        m.job("analysis", "done");
        m.dialout_status("ok");
        m.dialout_status("401");
        m.dialout_status("401");
        m.call_duplicate();
        m.crm_push("http_error");
        let t = m.render();
        assert!(t.contains("cxb_dialout_total{status=\"ok\"} 1"));
        assert!(t.contains("cxb_dialout_total{status=\"401\"} 2"));
        assert!(t.contains("cxb_calls_duplicate_total 1"));
        assert!(t.contains("cxb_crm_push_total{outcome=\"http_error\"} 1"));
        assert!(t.contains("cxb_http_requests_total{method=\"GET\",route=\"/api/v1/bots\",status=\"200\"} 2"));
        assert!(t.contains("cxb_dialout_accepted_total 1"));
        assert!(t.contains("cxb_dialout_refused_total{reason=\"no_capacity\"} 1"));
        assert!(t.contains("cxb_calls_ingested_total 1"));
        assert!(t.contains("cxb_postcall_jobs_total{kind=\"analysis\",outcome=\"done\"} 1"));
    }
}
