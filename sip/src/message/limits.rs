//! Size limits applied while parsing.

/// Limits on what the parser accepts; exceeding one is a [`crate::error::ParseError`]
/// (413 for the message size, 414 for the Request-URI, 400 otherwise).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Whole message (start line + headers + body), bytes. Default 64 KiB.
    pub max_message_bytes: usize,
    /// Number of header fields (lines after unfolding). Default 256.
    pub max_headers: usize,
    /// One header field including continuation lines, bytes. Default 8 KiB.
    pub max_header_line: usize,
    /// Via values (checked per line by the parser, per value by validation). Default 70.
    pub max_vias: usize,
    /// Request-URI length, bytes. Default 4 KiB.
    pub max_uri_len: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_bytes: 64 * 1024,
            max_headers: 256,
            max_header_line: 8 * 1024,
            max_vias: 70,
            max_uri_len: 4096,
        }
    }
}
