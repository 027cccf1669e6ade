//! The raw header list: ordered `(name, value)` fields, zero-copy slices of the received bytes.

use bytes::Bytes;

use super::name::HeaderName;

/// Where a piece of message text lives: a span of the message buffer, a static string or an
/// owned buffer (built or unfolded values).
#[derive(Debug, Clone)]
pub(crate) enum Text {
    Span(u32, u32),
    Static(&'static str),
    Owned(Bytes),
}

impl Text {
    pub(crate) fn resolve<'a>(&'a self, buf: &'a Bytes) -> &'a [u8] {
        match self {
            Text::Span(s, e) => &buf[*s as usize..*e as usize],
            Text::Static(s) => s.as_bytes(),
            Text::Owned(b) => b,
        }
    }

    pub(crate) fn to_bytes(&self, buf: &Bytes) -> Bytes {
        match self {
            Text::Span(s, e) => buf.slice(*s as usize..*e as usize),
            Text::Static(s) => Bytes::from_static(s.as_bytes()),
            Text::Owned(b) => b.clone(),
        }
    }
}

/// An owned header value (or body, or URI) to put into a message being built.
///
/// `&'static str`, `String`, `Vec<u8>` and `Bytes` convert into it without copying;
/// use [`HeaderValue::copy_from`] for borrowed text.
#[derive(Debug, Clone)]
pub struct HeaderValue(pub(crate) Text);

impl HeaderValue {
    /// Copies borrowed text.
    pub fn copy_from(s: impl AsRef<[u8]>) -> Self {
        HeaderValue(Text::Owned(Bytes::copy_from_slice(s.as_ref())))
    }
}

impl From<&'static str> for HeaderValue {
    fn from(s: &'static str) -> Self {
        HeaderValue(Text::Static(s))
    }
}

impl From<String> for HeaderValue {
    fn from(s: String) -> Self {
        HeaderValue(Text::Owned(Bytes::from(s)))
    }
}

impl From<Vec<u8>> for HeaderValue {
    fn from(s: Vec<u8>) -> Self {
        HeaderValue(Text::Owned(Bytes::from(s)))
    }
}

impl From<Bytes> for HeaderValue {
    fn from(s: Bytes) -> Self {
        HeaderValue(Text::Owned(s))
    }
}

/// Where a header name or value lives: a span of the message buffer, or an index into the
/// list's side table of built/unfolded texts. Small and `Copy` so the entry list of a parsed
/// message is one small allocation with no drop work.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Slot {
    Span(u32, u32),
    Ext(u32),
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Entry {
    pub(crate) name: HeaderName,
    pub(crate) raw_name: Slot,
    pub(crate) value: Slot,
}

/// The ordered header fields of a message.
///
/// Parsed fields are spans of the received buffer: names as written (compact forms kept),
/// values trimmed and, if folded, unfolded. Unknown fields are kept in place.
/// Lookups by [`HeaderName`] are case-insensitive and compact-form aware.
#[derive(Debug, Clone, Default)]
pub struct Headers {
    pub(crate) buf: Bytes,
    pub(crate) entries: Vec<Entry>,
    /// Texts that are not spans of `buf` (built or unfolded), referenced by [`Slot::Ext`].
    pub(crate) ext: Vec<Text>,
}

/// One header field as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderField<'a> {
    /// Decoded name ([`HeaderName::Other`] for unknown fields).
    pub name: HeaderName,
    /// The name as written (e.g. `v`, `MaX-fOrWaRdS`, `X-Campaign`).
    pub raw_name: &'a [u8],
    /// The value (trimmed, unfolded).
    pub value: &'a [u8],
}

impl<'a> HeaderField<'a> {
    /// The value as UTF-8 text, if it is.
    pub fn value_str(&self) -> Option<&'a str> {
        std::str::from_utf8(self.value).ok()
    }

    /// Canonical name for known fields, the raw name otherwise (lossy if not UTF-8).
    pub fn canonical_name(&self) -> std::borrow::Cow<'a, str> {
        match self.name {
            HeaderName::Other => String::from_utf8_lossy(self.raw_name),
            n => std::borrow::Cow::Borrowed(n.as_str()),
        }
    }
}

impl Headers {
    /// An empty list.
    pub fn new() -> Self {
        Headers::default()
    }

    /// Number of fields (a comma-separated line counts once).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no fields.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The bytes of a name or value slot.
    #[inline]
    pub(crate) fn resolve(&self, slot: Slot) -> &[u8] {
        match slot {
            Slot::Span(s, e) => &self.buf[s as usize..e as usize],
            Slot::Ext(i) => self.ext[i as usize].resolve(&self.buf),
        }
    }

    /// A slot as a zero-copy `Bytes`.
    fn slot_bytes(&self, slot: Slot) -> Bytes {
        match slot {
            Slot::Span(s, e) => self.buf.slice(s as usize..e as usize),
            Slot::Ext(i) => self.ext[i as usize].to_bytes(&self.buf),
        }
    }

    /// Stores a text in the side table.
    fn intern(&mut self, t: Text) -> Slot {
        if let Text::Span(s, e) = t {
            return Slot::Span(s, e);
        }
        self.ext.push(t);
        Slot::Ext((self.ext.len() - 1) as u32)
    }

    /// Bounds the side table: called at the start of every mutation, before any `intern`.
    fn maybe_compact(&mut self) {
        if self.ext.len() > 2 * self.entries.len() + 16 {
            self.compact_ext();
        }
    }

    /// Drops side-table texts no entry refers to any more (after `set`/`remove`).
    fn compact_ext(&mut self) {
        let old = std::mem::take(&mut self.ext);
        let ext = &mut self.ext;
        let mut keep = |slot: &mut Slot| {
            if let Slot::Ext(i) = *slot {
                ext.push(old[i as usize].clone());
                *slot = Slot::Ext((ext.len() - 1) as u32);
            }
        };
        for e in &mut self.entries {
            keep(&mut e.raw_name);
            keep(&mut e.value);
        }
    }

    fn field<'a>(&'a self, e: &'a Entry) -> HeaderField<'a> {
        HeaderField {
            name: e.name,
            raw_name: self.resolve(e.raw_name),
            value: self.resolve(e.value),
        }
    }

    /// All fields in order.
    pub fn iter(&self) -> impl Iterator<Item = HeaderField<'_>> + '_ {
        self.entries.iter().map(|e| self.field(e))
    }

    /// The field at `index`.
    pub fn at(&self, index: usize) -> Option<HeaderField<'_>> {
        self.entries.get(index).map(|e| self.field(e))
    }

    /// Value of the first field called `name`.
    pub fn get(&self, name: HeaderName) -> Option<&[u8]> {
        self.entries
            .iter()
            .find(|e| e.name == name)
            .map(|e| self.resolve(e.value))
    }

    /// Value of the first field called `name`, as UTF-8 text (None if absent or not UTF-8).
    pub fn get_str(&self, name: HeaderName) -> Option<&str> {
        self.get(name).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// Value of the first field called `name` as a zero-copy `Bytes` slice of the message.
    pub fn get_bytes(&self, name: HeaderName) -> Option<Bytes> {
        self.entries
            .iter()
            .find(|e| e.name == name)
            .map(|e| self.slot_bytes(e.value))
    }

    /// Values of all fields called `name`, in order (comma lists are not split; see `list`).
    pub fn get_all(&self, name: HeaderName) -> impl Iterator<Item = &[u8]> + '_ {
        self.entries
            .iter()
            .filter(move |e| e.name == name)
            .map(|e| self.resolve(e.value))
    }

    /// Number of fields called `name`.
    pub fn count(&self, name: HeaderName) -> usize {
        self.entries.iter().filter(|e| e.name == name).count()
    }

    /// Whether a field called `name` is present.
    pub fn contains(&self, name: HeaderName) -> bool {
        self.entries.iter().any(|e| e.name == name)
    }

    /// Values of all fields whose name matches `name` case-insensitively (known names also match
    /// their compact form), e.g. `get_all_by_name("X-Campaign-Id")`.
    pub fn get_all_by_name<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        let known = HeaderName::from_bytes(name.as_bytes());
        self.entries
            .iter()
            .filter(move |e| match known {
                HeaderName::Other => {
                    e.name == HeaderName::Other && self.resolve(e.raw_name).eq_ignore_ascii_case(name.as_bytes())
                }
                k => e.name == k,
            })
            .map(|e| self.resolve(e.value))
    }

    /// Value of the first field whose name matches `name` (see [`Headers::get_all_by_name`]).
    pub fn get_by_name<'a>(&'a self, name: &'a str) -> Option<&'a [u8]> {
        self.get_all_by_name(name).next()
    }

    /// Appends a known field (printed with its canonical name).
    pub fn push(&mut self, name: HeaderName, value: impl Into<HeaderValue>) {
        self.maybe_compact();
        let raw_name = self.intern(Text::Static(name.as_str()));
        let value = self.intern(value.into().0);
        self.entries.push(Entry { name, raw_name, value });
    }

    /// Appends a field by name (e.g. `X-Campaign-Id`); known names are recognised.
    pub fn push_named(&mut self, name: impl Into<HeaderValue>, value: impl Into<HeaderValue>) {
        self.maybe_compact();
        let raw_name = name.into().0;
        let kind = HeaderName::from_bytes(raw_name.resolve(&self.buf));
        let raw_name = self.intern(raw_name);
        let value = self.intern(value.into().0);
        self.entries.push(Entry {
            name: kind,
            raw_name,
            value,
        });
    }

    /// Inserts a known field at `index` (e.g. 0 to add a top Via).
    pub fn insert(&mut self, index: usize, name: HeaderName, value: impl Into<HeaderValue>) {
        self.maybe_compact();
        let raw_name = self.intern(Text::Static(name.as_str()));
        let value = self.intern(value.into().0);
        let e = Entry { name, raw_name, value };
        self.entries.insert(index.min(self.entries.len()), e);
    }

    /// Replaces the first field called `name` (keeping its position) and removes the others;
    /// appends if absent.
    pub fn set(&mut self, name: HeaderName, value: impl Into<HeaderValue>) {
        self.maybe_compact();
        let value = self.intern(value.into().0);
        match self.entries.iter().position(|e| e.name == name) {
            Some(i) => {
                self.entries[i].value = value;
                let mut seen = 0usize;
                self.entries.retain(|e| {
                    if e.name != name {
                        return true;
                    }
                    seen += 1;
                    seen == 1
                });
            }
            None => {
                let raw_name = self.intern(Text::Static(name.as_str()));
                self.entries.push(Entry { name, raw_name, value });
            }
        }
    }

    /// Removes all fields called `name`; returns how many were removed.
    pub fn remove(&mut self, name: HeaderName) -> usize {
        let before = self.entries.len();
        self.entries.retain(|e| e.name != name);
        before - self.entries.len()
    }

    /// Removes the field at `index`.
    pub fn remove_at(&mut self, index: usize) {
        if index < self.entries.len() {
            self.entries.remove(index);
        }
    }

    /// Copies every field called `name` from `other`, appending in order (zero-copy for parsed fields).
    pub fn copy_from(&mut self, other: &Headers, name: HeaderName) {
        self.maybe_compact();
        for e in other.entries.iter().filter(|e| e.name == name) {
            let raw_name = self.intern(match e.name {
                HeaderName::Other => Text::Owned(other.slot_bytes(e.raw_name)),
                n => Text::Static(n.as_str()),
            });
            let value = self.intern(Text::Owned(other.slot_bytes(e.value)));
            self.entries.push(Entry {
                name: e.name,
                raw_name,
                value,
            });
        }
    }
}

impl PartialEq for Headers {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().zip(other.iter()).all(|(a, b)| a == b)
    }
}

impl Eq for Headers {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn side_table_stays_bounded_and_consistent_under_edits() {
        let mut h = Headers::new();
        h.push(HeaderName::Via, "SIP/2.0/UDP a;branch=z9hG4bK1");
        h.push_named("X-Campaign-Id", String::from("1"));
        for i in 0..200 {
            h.set(HeaderName::To, format!("<sip:b@c>;n={i}"));
            h.insert(0, HeaderName::Route, format!("<sip:r{i}@x;lr>"));
            h.remove(HeaderName::Route);
            assert!(
                h.ext.len() <= 2 * h.entries.len() + 16 + 4,
                "side table grew to {}",
                h.ext.len()
            );
        }
        assert_eq!(h.get_str(HeaderName::To), Some("<sip:b@c>;n=199"));
        assert_eq!(h.get_by_name("x-campaign-id"), Some(&b"1"[..]));
        assert_eq!(h.at(0).unwrap().raw_name, b"Via");
        assert_eq!(h.len(), 3);
    }
}
