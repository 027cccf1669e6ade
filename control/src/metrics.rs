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
        if let Ok(mut m) = self.dialout_refused.lock() {
            *m.entry(reason.to_owned()).or_default() += 1;
        }
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
        out.push_str("# HELP cxb_http_requests_total HTTP requests answered by control.\n");
        out.push_str("# TYPE cxb_http_requests_total counter\n");
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
        out.push_str("# HELP cxb_dialout_accepted_total Dial-out requests accepted.\n");
        out.push_str("# TYPE cxb_dialout_accepted_total counter\n");
        let _ = writeln!(
            out,
            "cxb_dialout_accepted_total {}",
            self.dialout_accepted.load(Ordering::Relaxed)
        );
        out.push_str("# HELP cxb_dialout_refused_total Dial-out requests refused, by reason.\n");
        out.push_str("# TYPE cxb_dialout_refused_total counter\n");
        if let Ok(m) = self.dialout_refused.lock() {
            for (reason, n) in m.iter() {
                let _ = writeln!(out, "cxb_dialout_refused_total{{reason=\"{}\"}} {n}", esc(reason));
            }
        }
        out.push_str("# HELP cxb_dialout_total Dial-out requests by result status.\n");
        out.push_str("# TYPE cxb_dialout_total counter\n");
        if let Ok(m) = self.dialout_status.lock() {
            for (status, n) in m.iter() {
                let _ = writeln!(out, "cxb_dialout_total{{status=\"{}\"}} {n}", esc(status));
            }
        }
        out.push_str("# HELP cxb_calls_ingested_total Call documents ingested from dataplanes.\n");
        out.push_str("# TYPE cxb_calls_ingested_total counter\n");
        let _ = writeln!(
            out,
            "cxb_calls_ingested_total {}",
            self.calls_ingested.load(Ordering::Relaxed)
        );
        out.push_str("# HELP cxb_calls_duplicate_total Call documents ignored as already stored.\n");
        out.push_str("# TYPE cxb_calls_duplicate_total counter\n");
        let _ = writeln!(
            out,
            "cxb_calls_duplicate_total {}",
            self.calls_duplicate.load(Ordering::Relaxed)
        );
        out.push_str("# HELP cxb_postcall_jobs_total Post-call jobs finished, by kind and outcome.\n");
        out.push_str("# TYPE cxb_postcall_jobs_total counter\n");
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
        out.push_str("# HELP cxb_crm_push_total CRM push attempts by outcome.\n");
        out.push_str("# TYPE cxb_crm_push_total counter\n");
        if let Ok(m) = self.crm_push.lock() {
            for (outcome, n) in m.iter() {
                let _ = writeln!(out, "cxb_crm_push_total{{outcome=\"{}\"}} {n}", esc(outcome));
            }
        }
        out
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
