//! `cxb-model`: serde types shared by the dataplane and control: bot configuration, call
//! records and the fleet shared-memory layout.
#![deny(unsafe_code)]
