//! Parses the benchmark INVITE (`cxb_sip::message::samples`, as `benches/sip.rs`) N times, for instruction counts:
//!
//! ```text
//! cargo build --release -p cxb-sip --example parse_loop
//! valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.out target/release/examples/parse_loop 20000
//! ```
//!
//! Run it with 0 and with N iterations and divide the difference in `Ir` by N to get the
//! instructions per parse (parse + drop, the same work as the criterion bench's loop).
//! A second argument picks another message: `ok` (200 with SDP), `ack` or `bye`.

use std::hint::black_box;

use bytes::Bytes;
use cxb_sip::message::Message;
use cxb_sip::message::samples::{ACK, BYE, INVITE, OK_200};

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let text = match std::env::args().nth(2).as_deref() {
        Some("ok") => OK_200,
        Some("ack") => ACK,
        Some("bye") => BYE,
        _ => INVITE,
    };
    let bytes = Bytes::copy_from_slice(text.as_bytes());
    for _ in 0..n {
        let m = Message::parse(black_box(bytes.clone())).expect("the benchmark message parses");
        black_box(&m);
    }
}
