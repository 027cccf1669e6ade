//! Lexical helpers shared by the typed header views: LWS, tokens, quoted strings, lists.

use crate::error::HeaderFault;

/// RFC 3261 token characters.
pub(crate) static TOKEN: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~');
        c += 1;
    }
    t
};

/// Whether `b` is a token character.
pub(crate) fn is_token_char(b: u8) -> bool {
    TOKEN[b as usize]
}

/// Whether `s` is a non-empty token.
pub(crate) fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&c| TOKEN[c as usize])
}

/// SP or HTAB.
pub(crate) fn is_ws(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Trims SP/HTAB (and stray CR/LF) on both ends.
pub(crate) fn trim(s: &str) -> &str {
    s.trim_matches(|c| matches!(c, ' ' | '\t' | '\r' | '\n'))
}

/// Trims SP/HTAB on both ends of a byte slice.
pub(crate) fn trim_bytes(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if is_ws(*first) {
            s = rest;
        } else {
            break;
        }
    }
    while let [rest @ .., last] = s {
        if is_ws(*last) {
            s = rest;
        } else {
            break;
        }
    }
    s
}

/// A position in a header value being decoded.
#[derive(Debug, Clone)]
pub(crate) struct Cursor<'a> {
    pub(crate) s: &'a str,
    pub(crate) pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(s: &'a str) -> Self {
        Cursor { s, pos: 0 }
    }

    pub(crate) fn skip_ws(&mut self) {
        let b = self.s.as_bytes();
        while self.pos < b.len() && (is_ws(b[self.pos]) || b[self.pos] == b'\r' || b[self.pos] == b'\n') {
            self.pos += 1;
        }
    }

    pub(crate) fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.pos).copied()
    }

    pub(crate) fn at_end(&self) -> bool {
        self.pos >= self.s.len()
    }

    /// Consumes `c` if it is next.
    pub(crate) fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Skips LWS, consumes `c`, skips LWS; false if `c` is not there.
    pub(crate) fn eat_sep(&mut self, c: u8) -> bool {
        let save = self.pos;
        self.skip_ws();
        if self.eat(c) {
            self.skip_ws();
            true
        } else {
            self.pos = save;
            false
        }
    }

    /// Consumes a run of token characters (possibly empty).
    pub(crate) fn token(&mut self) -> &'a str {
        self.take_while(is_token_char)
    }

    pub(crate) fn take_while(&mut self, f: impl Fn(u8) -> bool) -> &'a str {
        let b = self.s.as_bytes();
        let start = self.pos;
        while self.pos < b.len() && f(b[self.pos]) {
            self.pos += 1;
        }
        &self.s[start..self.pos]
    }

    /// Consumes a quoted string (cursor on the opening quote); returns it with its quotes.
    pub(crate) fn quoted(&mut self) -> Result<&'a str, HeaderFault> {
        let b = self.s.as_bytes();
        let start = self.pos;
        debug_assert_eq!(b.get(start), Some(&b'"'));
        let mut i = start + 1;
        while i < b.len() {
            match b[i] {
                b'\\' => i += 2,
                b'"' => {
                    self.pos = i + 1;
                    return Ok(&self.s[start..self.pos]);
                }
                b'\r' | b'\n' => return Err(HeaderFault::UnterminatedQuote),
                _ => i += 1,
            }
        }
        Err(HeaderFault::UnterminatedQuote)
    }

    pub(crate) fn rest(&self) -> &'a str {
        &self.s[self.pos.min(self.s.len())..]
    }
}

/// Splits a comma-separated header value into elements, respecting quotes and `<...>`.
/// Elements are trimmed; an empty element is yielded as `""` (callers reject it).
pub(crate) fn split_list(s: &str) -> ListIter<'_> {
    ListIter { s, pos: 0, done: false }
}

/// Iterator returned by [`split_list`].
#[derive(Debug, Clone)]
pub(crate) struct ListIter<'a> {
    s: &'a str,
    pos: usize,
    done: bool,
}

impl<'a> Iterator for ListIter<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        if self.done {
            return None;
        }
        let b = self.s.as_bytes();
        let start = self.pos;
        let mut i = start;
        let mut angle = false;
        while i < b.len() {
            match b[i] {
                b'"' if !angle => {
                    i += 1;
                    while i < b.len() && b[i] != b'"' {
                        if b[i] == b'\\' {
                            i += 1;
                        }
                        i += 1;
                    }
                }
                b'<' => angle = true,
                b'>' => angle = false,
                b',' if !angle => {
                    self.pos = i + 1;
                    return Some(trim(&self.s[start..i]));
                }
                _ => {}
            }
            i += 1;
        }
        self.done = true;
        Some(trim(&self.s[start.min(self.s.len())..]))
    }
}

/// Removes the quotes and backslash escapes of a quoted string (input without quotes is returned as is).
pub fn unquote(s: &str) -> std::borrow::Cow<'_, str> {
    let Some(inner) = s.strip_prefix('"').and_then(|s| s.strip_suffix('"')) else {
        return std::borrow::Cow::Borrowed(s);
    };
    if !inner.contains('\\') {
        return std::borrow::Cow::Borrowed(inner);
    }
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Decodes a decimal number of at most `u32` range.
pub(crate) fn parse_u32(s: &str) -> Result<u32, HeaderFault> {
    let b = s.as_bytes();
    if b.is_empty() || b.len() > 10 || !b.iter().all(u8::is_ascii_digit) {
        return Err(HeaderFault::Number);
    }
    let v: u64 = b.iter().fold(0u64, |a, &d| a * 10 + u64::from(d - b'0'));
    u32::try_from(v).map_err(|_| HeaderFault::Number)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_split_respects_quotes_and_angles() {
        let v: Vec<_> = split_list(r#""a, b" <sip:x@y;p=1,2>;q=1 , <sip:z@w>,"#).collect();
        assert_eq!(v, vec![r#""a, b" <sip:x@y;p=1,2>;q=1"#, "<sip:z@w>", ""]);
        assert_eq!(unquote(r#""J Rosenberg \\\"""#), r#"J Rosenberg \""#);
    }
}
