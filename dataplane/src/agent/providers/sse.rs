//! A sans-IO parser of `text/event-stream` (server-sent events): bytes in, events out.
//! Handles any split of the input (mid-line, mid-UTF-8, `\r\n` across chunks) and caps a line's
//! length so a hostile server cannot grow memory without bound.

/// Longest line accepted (a chat completion chunk is far smaller).
pub const MAX_LINE: usize = 1 << 20;

/// One event: its `event:` name (empty when absent) and its `data:` lines joined by `\n`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    /// Event type (`message_start`, …); empty for unnamed events.
    pub event: String,
    /// Data.
    pub data: String,
}

/// The stream broke the format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SseError {
    /// A line longer than [`MAX_LINE`].
    #[error("event-stream line longer than {MAX_LINE} bytes")]
    LineTooLong,
}

/// Incremental event-stream parser.
#[derive(Debug, Default)]
pub struct SseParser {
    buf: Vec<u8>,
    /// Start of the unparsed part of `buf`.
    pos: usize,
    event: String,
    data: String,
    has_data: bool,
}

impl SseParser {
    /// A new parser.
    pub fn new() -> SseParser {
        SseParser::default()
    }

    /// Feeds bytes; calls `on_event` for each complete event.
    pub fn push(&mut self, bytes: &[u8], mut on_event: impl FnMut(SseEvent)) -> Result<(), SseError> {
        self.buf.extend_from_slice(bytes);
        loop {
            let rest = &self.buf[self.pos..];
            let Some(nl) = rest.iter().position(|&b| b == b'\n' || b == b'\r') else {
                break;
            };
            // A lone `\r` at the end of the buffer may be the first half of `\r\n`.
            if rest[nl] == b'\r' && nl + 1 == rest.len() {
                break;
            }
            let line_end = self.pos + nl;
            let mut next = line_end + 1;
            if self.buf[line_end] == b'\r' && self.buf.get(next) == Some(&b'\n') {
                next += 1;
            }
            let line = String::from_utf8_lossy(&self.buf[self.pos..line_end]).into_owned();
            self.pos = next;
            if let Some(ev) = self.line(&line) {
                on_event(ev);
            }
        }
        if self.buf.len() - self.pos > MAX_LINE {
            self.buf.clear();
            self.pos = 0;
            return Err(SseError::LineTooLong);
        }
        if self.pos > 0 && (self.pos == self.buf.len() || self.pos > 4096) {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        Ok(())
    }

    /// The stream ended: a last event not followed by a blank line, if any.
    pub fn finish(&mut self) -> Option<SseEvent> {
        if self.pos < self.buf.len() {
            let line = String::from_utf8_lossy(&self.buf[self.pos..]).into_owned();
            self.buf.clear();
            self.pos = 0;
            if let Some(ev) = self.line(&line) {
                return Some(ev);
            }
        }
        self.dispatch()
    }

    fn line(&mut self, line: &str) -> Option<SseEvent> {
        if line.is_empty() {
            return self.dispatch();
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = match line.find(':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(' ').unwrap_or(v))
            }
            None => (line, ""),
        };
        match field {
            "event" => {
                self.event.clear();
                self.event.push_str(value);
            }
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            _ => {}
        }
        None
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        if !self.has_data {
            self.event.clear();
            return None;
        }
        self.has_data = false;
        Some(SseEvent {
            event: std::mem::take(&mut self.event),
            data: std::mem::take(&mut self.data),
        })
    }
}
