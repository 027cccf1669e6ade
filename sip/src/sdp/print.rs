//! Printing session descriptions: RFC 8866 line order, CRLF line endings.
//!
//! Lines the parser kept verbatim (unknown types) are printed just before the `a=` lines of their
//! level, so `print(parse(print(parse(x)))) == print(parse(x))` for every accepted `x`.

use std::fmt::{self, Write};

use super::model::{Bandwidth, Connection, MediaDescription, SessionDescription, UnknownLine};

impl fmt::Display for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.net_type, self.addr_type.as_str(), self.address)?;
        if let Some(s) = &self.multicast_suffix {
            write!(f, "/{s}")?;
        }
        Ok(())
    }
}

impl fmt::Display for SessionDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = &self.origin;
        f.write_str("v=0\r\n")?;
        write!(
            f,
            "o={} {} {} {} {} {}\r\n",
            o.username,
            o.session_id,
            o.session_version,
            o.net_type,
            o.addr_type.as_str(),
            o.address
        )?;
        let name = if self.session_name.is_empty() {
            " "
        } else {
            &self.session_name
        };
        write!(f, "s={name}\r\n")?;
        opt_line(f, 'i', &self.information)?;
        opt_line(f, 'u', &self.uri)?;
        for e in &self.emails {
            write!(f, "e={e}\r\n")?;
        }
        for p in &self.phones {
            write!(f, "p={p}\r\n")?;
        }
        if let Some(c) = &self.connection {
            write!(f, "c={c}\r\n")?;
        }
        bandwidths(f, &self.bandwidths)?;
        for t in &self.times {
            write!(f, "t={} {}\r\n", t.start, t.stop)?;
            for r in &t.repeats {
                write!(f, "r={r}\r\n")?;
            }
        }
        opt_line(f, 'z', &self.time_zones)?;
        opt_line(f, 'k', &self.key)?;
        unknown(f, &self.unknown_lines)?;
        attributes(f, &self.attributes)?;
        for m in &self.media {
            media(f, m)?;
        }
        Ok(())
    }
}

impl SessionDescription {
    /// The description as bytes, ready to be a SIP body (`Content-Type: application/sdp`).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut s = String::with_capacity(512);
        // Writing into a String cannot fail.
        let _ = write!(s, "{self}");
        s.into_bytes()
    }
}

fn opt_line(f: &mut fmt::Formatter<'_>, kind: char, v: &Option<String>) -> fmt::Result {
    match v {
        Some(v) => write!(f, "{kind}={v}\r\n"),
        None => Ok(()),
    }
}

fn bandwidths(f: &mut fmt::Formatter<'_>, bs: &[Bandwidth]) -> fmt::Result {
    for b in bs {
        write!(f, "b={}:{}\r\n", b.kind, b.value)?;
    }
    Ok(())
}

fn unknown(f: &mut fmt::Formatter<'_>, lines: &[UnknownLine]) -> fmt::Result {
    for l in lines {
        write!(f, "{}={}\r\n", l.kind, l.value)?;
    }
    Ok(())
}

fn attributes(f: &mut fmt::Formatter<'_>, attrs: &[super::model::Attribute]) -> fmt::Result {
    for a in attrs {
        match &a.value {
            Some(v) => write!(f, "a={}:{}\r\n", a.name, v)?,
            None => write!(f, "a={}\r\n", a.name)?,
        }
    }
    Ok(())
}

fn media(f: &mut fmt::Formatter<'_>, m: &MediaDescription) -> fmt::Result {
    write!(f, "m={} {}", m.media, m.port)?;
    if let Some(n) = m.num_ports {
        write!(f, "/{n}")?;
    }
    write!(f, " {}", m.proto)?;
    for fmt in &m.formats {
        write!(f, " {fmt}")?;
    }
    f.write_str("\r\n")?;
    opt_line(f, 'i', &m.information)?;
    for c in &m.connections {
        write!(f, "c={c}\r\n")?;
    }
    bandwidths(f, &m.bandwidths)?;
    opt_line(f, 'k', &m.key)?;
    unknown(f, &m.unknown_lines)?;
    attributes(f, &m.attributes)
}
