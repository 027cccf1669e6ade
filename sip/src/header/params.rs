//! `;name=value` parameter lists (header params and URI params), validated once, read lazily.

use super::scan::{Cursor, is_token_char, is_ws};
use crate::error::HeaderFault;

/// A validated parameter list such as `;tag=1928;lr;q=0.5` (a view over the original text).
///
/// Names compare case-insensitively; values are returned as written (quoted strings keep their
/// quotes, see [`crate::header::unquote`]). LWS around `;` and `=` is allowed and skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Params<'a> {
    raw: &'a str,
}

impl<'a> Params<'a> {
    /// Wraps text already checked by [`parse_params`] (or URI params, which have no LWS).
    pub(crate) fn from_validated(raw: &'a str) -> Self {
        Params { raw }
    }

    /// The parameter text as written, starting at the first `;` (empty if none).
    pub fn as_str(&self) -> &'a str {
        self.raw
    }

    /// Whether there are no parameters.
    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }

    /// Iterates `(name, value)` pairs in order.
    pub fn iter(&self) -> ParamIter<'a> {
        ParamIter {
            c: Cursor::new(self.raw),
        }
    }

    /// Value of the first parameter called `name`: `None` if absent, `Some(None)` if it has no value.
    pub fn get(&self, name: &str) -> Option<Option<&'a str>> {
        self.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v)
    }

    /// Whether a parameter called `name` is present.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
}

/// Iterator over `(name, value)` pairs of [`Params`].
#[derive(Debug, Clone)]
pub struct ParamIter<'a> {
    c: Cursor<'a>,
}

impl<'a> Iterator for ParamIter<'a> {
    type Item = (&'a str, Option<&'a str>);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            self.c.skip_ws();
            if !self.c.eat(b';') {
                return None;
            }
            self.c.skip_ws();
            let name = self.c.take_while(|b| b != b'=' && b != b';' && !is_ws(b));
            if self.c.eat_sep(b'=') {
                let value = if self.c.peek() == Some(b'"') {
                    self.c.quoted().unwrap_or("")
                } else {
                    self.c.take_while(|b| b != b';' && !is_ws(b))
                };
                return Some((name, Some(value)));
            }
            if !name.is_empty() {
                return Some((name, None));
            }
        }
    }
}

fn is_value_char(b: u8) -> bool {
    is_token_char(b) || matches!(b, b':' | b'[' | b']' | b'/' | b'@')
}

/// Validates `*( LWS ";" LWS name [ LWS "=" LWS value ] )` starting at the cursor and returns the
/// parameter view; the cursor is left after the last parameter (trailing LWS not consumed).
pub(crate) fn parse_params<'a>(c: &mut Cursor<'a>) -> Result<Params<'a>, HeaderFault> {
    let start = c.pos;
    let mut end = c.pos;
    loop {
        let save = c.pos;
        c.skip_ws();
        if !c.eat(b';') {
            c.pos = save;
            break;
        }
        c.skip_ws();
        if c.token().is_empty() {
            return Err(HeaderFault::Param);
        }
        if c.eat_sep(b'=') {
            if c.peek() == Some(b'"') {
                c.quoted()?;
            } else if c.take_while(is_value_char).is_empty() {
                return Err(HeaderFault::Param);
            }
        }
        end = c.pos;
    }
    c.pos = end;
    Ok(Params { raw: &c.s[start..end] })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lws_around_separators() {
        let mut c = Cursor::new(" ;   tag    = 1918181833n ; lr ;q=\"a;b\" x");
        let p = parse_params(&mut c).unwrap();
        assert_eq!(c.rest(), " x");
        let v: Vec<_> = p.iter().collect();
        assert_eq!(
            v,
            vec![("tag", Some("1918181833n")), ("lr", None), ("q", Some("\"a;b\""))]
        );
        assert_eq!(p.get("TAG"), Some(Some("1918181833n")));
        let mut c = Cursor::new(";;");
        assert_eq!(parse_params(&mut c), Err(HeaderFault::Param));
        let mut c = Cursor::new(";a=");
        assert_eq!(parse_params(&mut c), Err(HeaderFault::Param));
    }
}
