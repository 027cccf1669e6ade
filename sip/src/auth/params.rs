//! The `auth-scheme auth-param, auth-param, …` syntax shared by `WWW-Authenticate`,
//! `Proxy-Authenticate`, `Authorization` and `Proxy-Authorization` (RFC 3261 §25.1, RFC 7235 §2.1):
//! tokens, quoted strings with `\` escapes, case-insensitive parameter names, several challenges
//! in one header value.

use std::fmt;

/// Limits on header values, so hostile input costs bounded work.
pub const MAX_VALUE_LEN: usize = 8192;
/// Maximum parameters in one challenge or credentials.
pub const MAX_PARAMS: usize = 64;
/// Maximum challenges in one header value.
pub const MAX_CHALLENGES: usize = 16;

/// A syntax error in an authentication header value. Positions are byte offsets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Nothing but whitespace.
    #[error("empty authentication header value")]
    Empty,
    /// Longer than [`MAX_VALUE_LEN`].
    #[error("authentication header value is {len} bytes, limit {max}")]
    TooLong {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// More than [`MAX_PARAMS`] parameters or [`MAX_CHALLENGES`] challenges.
    #[error("too many parameters or challenges")]
    TooMany,
    /// A scheme or parameter name was expected.
    #[error("expected a token at byte {pos}")]
    ExpectedToken {
        /// Byte offset.
        pos: usize,
    },
    /// `=` was expected after a parameter name.
    #[error("expected '=' at byte {pos}")]
    ExpectedEquals {
        /// Byte offset.
        pos: usize,
    },
    /// `,` was expected between parameters.
    #[error("expected ',' at byte {pos}")]
    ExpectedComma {
        /// Byte offset.
        pos: usize,
    },
    /// A quoted string never ends.
    #[error("unterminated quoted string starting at byte {pos}")]
    UnterminatedQuote {
        /// Byte offset of the opening quote.
        pos: usize,
    },
    /// A parameter appears twice.
    #[error("duplicate parameter {name}")]
    DuplicateParam {
        /// The parameter name.
        name: String,
    },
    /// Not valid UTF-8.
    #[error("authentication header value is not UTF-8")]
    NotUtf8,
}

/// One `name=value` parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// Name as received (compare with `eq_ignore_ascii_case`).
    pub name: String,
    /// Value with quoting and escapes removed.
    pub value: String,
    /// Whether the value was (or is to be) written as a quoted string.
    pub quoted: bool,
}

impl Param {
    /// A quoted parameter.
    pub fn quoted(name: &str, value: impl Into<String>) -> Param {
        Param {
            name: name.to_owned(),
            value: value.into(),
            quoted: true,
        }
    }
    /// A token parameter.
    pub fn token(name: &str, value: impl Into<String>) -> Param {
        Param {
            name: name.to_owned(),
            value: value.into(),
            quoted: false,
        }
    }
}

impl fmt::Display for Param {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}=", self.name)?;
        if self.quoted || self.value.is_empty() || !self.value.bytes().all(is_tchar) {
            write_quoted(f, &self.value)
        } else {
            f.write_str(&self.value)
        }
    }
}

/// Writes `"value"` escaping `"` and `\`.
pub(crate) fn write_quoted(f: &mut impl fmt::Write, v: &str) -> fmt::Result {
    f.write_char('"')?;
    for c in v.chars() {
        if c == '"' || c == '\\' {
            f.write_char('\\')?;
        }
        f.write_char(c)?;
    }
    f.write_char('"')
}

/// A scheme and its parameters, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthParams {
    /// `Digest`, `Basic`, …
    pub scheme: String,
    /// Parameters in the order received.
    pub params: Vec<Param>,
}

impl AuthParams {
    /// The value of a parameter (name ASCII case-insensitive).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
            .map(|p| p.value.as_str())
    }

    /// Parses one or more comma-separated challenges or credentials from a header value.
    pub fn parse_list(input: &[u8]) -> Result<Vec<AuthParams>, ParseError> {
        if input.len() > MAX_VALUE_LEN {
            return Err(ParseError::TooLong {
                len: input.len(),
                max: MAX_VALUE_LEN,
            });
        }
        let s = std::str::from_utf8(input).map_err(|_| ParseError::NotUtf8)?;
        let mut p = Parser {
            s: s.as_bytes(),
            pos: 0,
        };
        let mut out: Vec<AuthParams> = Vec::new();
        p.skip_ws_commas();
        if p.at_end() {
            return Err(ParseError::Empty);
        }
        while !p.at_end() {
            if out.len() >= MAX_CHALLENGES {
                return Err(ParseError::TooMany);
            }
            let scheme = p.token()?;
            let mut params: Vec<Param> = Vec::new();
            loop {
                p.skip_ws();
                if p.at_end() {
                    break;
                }
                // A new challenge starts with `token SP token =`, i.e. a token not followed by '='.
                let save = p.pos;
                let name = p.token()?;
                p.skip_ws();
                if p.peek() != Some(b'=') {
                    if params.is_empty() {
                        return Err(ParseError::ExpectedEquals { pos: p.pos });
                    }
                    p.pos = save;
                    break;
                }
                p.pos += 1;
                p.skip_ws();
                let (value, quoted) = p.value()?;
                if params.len() >= MAX_PARAMS {
                    return Err(ParseError::TooMany);
                }
                if params.iter().any(|q| q.name.eq_ignore_ascii_case(name)) {
                    return Err(ParseError::DuplicateParam { name: name.to_owned() });
                }
                params.push(Param {
                    name: name.to_owned(),
                    value,
                    quoted,
                });
                p.skip_ws();
                match p.peek() {
                    None => break,
                    Some(b',') => p.skip_ws_commas(),
                    Some(_) => return Err(ParseError::ExpectedComma { pos: p.pos }),
                }
            }
            out.push(AuthParams {
                scheme: scheme.to_owned(),
                params,
            });
        }
        Ok(out)
    }
}

impl fmt::Display for AuthParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.scheme)?;
        for (i, p) in self.params.iter().enumerate() {
            f.write_str(if i == 0 { " " } else { ", " })?;
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

/// RFC 7230 `tchar`.
pub(crate) fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
}

impl<'a> Parser<'a> {
    fn at_end(&self) -> bool {
        self.pos >= self.s.len()
    }
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }
    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.pos += 1;
        }
    }
    fn skip_ws_commas(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n' | b',')) {
            self.pos += 1;
        }
    }
    fn token(&mut self) -> Result<&'a str, ParseError> {
        let start = self.pos;
        while self.peek().is_some_and(is_tchar) {
            self.pos += 1;
        }
        if start == self.pos {
            return Err(ParseError::ExpectedToken { pos: start });
        }
        // tchar is ASCII, so this slice is valid UTF-8 on char boundaries.
        Ok(std::str::from_utf8(&self.s[start..self.pos]).unwrap_or_default())
    }
    /// A quoted string, or an unquoted run up to `,` or whitespace (lenient for sloppy peers).
    fn value(&mut self) -> Result<(String, bool), ParseError> {
        if self.peek() == Some(b'"') {
            let start = self.pos;
            self.pos += 1;
            let mut v = Vec::new();
            loop {
                match self.peek() {
                    None => return Err(ParseError::UnterminatedQuote { pos: start }),
                    Some(b'"') => {
                        self.pos += 1;
                        break;
                    }
                    Some(b'\\') if self.pos + 1 < self.s.len() => {
                        v.push(self.s[self.pos + 1]);
                        self.pos += 2;
                    }
                    Some(c) => {
                        v.push(c);
                        self.pos += 1;
                    }
                }
            }
            // Escapes only drop ASCII backslashes, so the bytes stay UTF-8.
            return Ok((String::from_utf8(v).map_err(|_| ParseError::NotUtf8)?, true));
        }
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| !matches!(c, b',' | b' ' | b'\t' | b'\r' | b'\n' | b'"'))
        {
            self.pos += 1;
        }
        Ok((String::from_utf8_lossy(&self.s[start..self.pos]).into_owned(), false))
    }
}
