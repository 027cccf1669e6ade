//! `cxb-sip`: SIP message parsing and printing, SDP, transactions, dialogs and digest
//! authentication. Sans-IO: no sockets and no clocks; time comes in as a value.
#![forbid(unsafe_code)]

pub mod auth;
pub mod dialog;
pub mod error;
pub mod framing;
pub mod header;
pub mod message;
pub mod sdp;
pub mod transaction;
pub mod uri;
