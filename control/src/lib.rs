//! `cxb-control`: the REST API, dashboard, storage, auth, post-call analysis and CRM push.
#![forbid(unsafe_code)]
