//! name-addr / addr-spec values: From, To, Contact, Route, Record-Route, Refer-To,
//! P-Asserted-Identity, Diversion, Reply-To (RFC 3261 §20, §25.1).

use std::borrow::Cow;

use super::params::{Params, parse_params};
use super::scan::{Cursor, is_token_char, is_ws, unquote};
use crate::error::HeaderFault;
use crate::uri::Uri;

/// `["Display Name"] <uri>;params` or `uri;params`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameAddr<'a> {
    display_name: Option<&'a str>,
    uri: Uri<'a>,
    angle: bool,
    params: Params<'a>,
}

impl<'a> NameAddr<'a> {
    /// Parses one value (not a comma list; see the list accessors on [`crate::header::Headers`]).
    pub fn parse(s: &'a str) -> Result<NameAddr<'a>, HeaderFault> {
        let mut c = Cursor::new(s);
        c.skip_ws();
        let mut display_name = None;
        let uri_str;
        let angle;
        if c.peek() == Some(b'"') {
            display_name = Some(c.quoted()?);
            c.skip_ws();
            if c.peek() != Some(b'<') {
                return Err(HeaderFault::AngleBrackets);
            }
        }
        let b = s.as_bytes();
        let lt = memchr::memchr(b'<', &b[c.pos..]).map(|i| c.pos + i);
        if let Some(lt) = lt {
            if display_name.is_none() {
                // Unquoted display name: *(token LWS).
                let dn = s[c.pos..lt].trim_end_matches([' ', '\t']);
                if !dn.bytes().all(|ch| is_token_char(ch) || is_ws(ch)) {
                    return Err(HeaderFault::DisplayName);
                }
                if !dn.is_empty() {
                    display_name = Some(dn);
                }
            }
            let gt = memchr::memchr(b'>', &b[lt..])
                .map(|i| lt + i)
                .ok_or(HeaderFault::AngleBrackets)?;
            uri_str = &s[lt + 1..gt];
            c.pos = gt + 1;
            angle = true;
        } else {
            // addr-spec: the URI runs to the first ';' (header params) or whitespace.
            let start = c.pos;
            c.take_while(|ch| ch != b';' && !is_ws(ch) && ch != b'>' && ch != b'"');
            uri_str = &s[start..c.pos];
            if uri_str.bytes().any(|ch| ch == b'?' || ch == b',') {
                return Err(HeaderFault::UnenclosedUri);
            }
            angle = false;
        }
        let uri = Uri::parse(uri_str).map_err(HeaderFault::Uri)?;
        let params = parse_params(&mut c)?;
        c.skip_ws();
        if !c.at_end() {
            return Err(HeaderFault::Trailing);
        }
        Ok(NameAddr {
            display_name,
            uri,
            angle,
            params,
        })
    }

    /// The display name as written (quoted strings keep their quotes and escapes).
    pub fn display_name_raw(&self) -> Option<&'a str> {
        self.display_name
    }

    /// The display name with quotes and backslash escapes removed.
    pub fn display_name(&self) -> Option<Cow<'a, str>> {
        self.display_name.map(unquote)
    }

    /// The URI.
    pub fn uri(&self) -> Uri<'a> {
        self.uri
    }

    /// Whether the URI was enclosed in `<>`.
    pub fn has_angle_brackets(&self) -> bool {
        self.angle
    }

    /// Header parameters (after the URI).
    pub fn params(&self) -> Params<'a> {
        self.params
    }

    /// One header parameter: `None` if absent, `Some(None)` for a flag.
    pub fn param(&self, name: &str) -> Option<Option<&'a str>> {
        self.params.get(name)
    }

    /// The `tag` parameter (From/To).
    pub fn tag(&self) -> Option<&'a str> {
        self.param("tag").flatten()
    }

    /// The `expires` parameter (Contact), if it is a valid number.
    pub fn expires(&self) -> Option<u32> {
        self.param("expires").flatten().and_then(|v| v.parse().ok())
    }

    /// The `q` parameter (Contact) in thousandths (`q=0.5` → 500), if valid.
    pub fn q(&self) -> Option<u16> {
        parse_q(self.param("q").flatten()?)
    }
}

fn parse_q(v: &str) -> Option<u16> {
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let base: u16 = match int {
        "0" => 0,
        "1" if frac.bytes().all(|b| b == b'0') => 1000,
        _ => return None,
    };
    let mut f: u16 = 0;
    for (i, d) in frac.bytes().enumerate() {
        f += u16::from(d - b'0') * [100, 10, 1][i];
    }
    Some(base + f)
}

/// One Contact value: `*` or an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contact<'a> {
    /// `Contact: *` (REGISTER removing all bindings).
    Star,
    /// An address with parameters (expires, q, +sip.instance, …).
    Addr(NameAddr<'a>),
}

impl<'a> Contact<'a> {
    /// Parses one Contact value.
    pub fn parse(s: &'a str) -> Result<Contact<'a>, HeaderFault> {
        if s.trim_matches([' ', '\t']) == "*" {
            return Ok(Contact::Star);
        }
        NameAddr::parse(s).map(Contact::Addr)
    }

    /// The address, unless this is `*`.
    pub fn addr(&self) -> Option<&NameAddr<'a>> {
        match self {
            Contact::Star => None,
            Contact::Addr(a) => Some(a),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_addr_forms() {
        let a = NameAddr::parse(r#""J Rosenberg \\\""       <sip:jdrosen@example.com>  ;  tag = 98asjd8"#).unwrap();
        assert_eq!(a.display_name().unwrap(), r#"J Rosenberg \""#);
        assert_eq!(a.uri().as_str(), "sip:jdrosen@example.com");
        assert_eq!(a.tag(), Some("98asjd8"));
        let a = NameAddr::parse("sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n").unwrap();
        assert!(!a.has_angle_brackets());
        assert_eq!(a.tag(), Some("1918181833n"));
        let a = NameAddr::parse("caller<sip:caller@example.com>;tag=323").unwrap();
        assert_eq!(a.display_name_raw(), Some("caller"));
        let a = NameAddr::parse("<sip:a@b>;expires=60;q=0.33").unwrap();
        assert_eq!(a.expires(), Some(60));
        assert_eq!(a.q(), Some(330));
        for bad in [
            r#""Mr. J. User <sip:j.user@example.com>"#,
            "Bell, Alexander <sip:a.g.bell@bell-tel.com>;tag=43",
            "< sip:t.watson@ieee.org >",
            "sip:user@example.com?Route=%3Csip:sip.example.com%3E",
            r#""Joe" <sip:joe@example.org>;;;;"#,
            "<sip:a@b",
        ] {
            assert!(NameAddr::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Contact::parse(" * ").unwrap(), Contact::Star);
    }
}
