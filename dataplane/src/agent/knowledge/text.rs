//! Text handling for the knowledge base: chunking documents and turning text into index terms.

/// English stop words: frequent words that carry no topic (sorted, for binary search).
const STOP_WORDS: &[&str] = &[
    "a", "about", "after", "again", "all", "am", "an", "and", "any", "are", "as", "at", "be", "because", "been",
    "before", "being", "both", "but", "by", "can", "could", "did", "do", "does", "doing", "down", "during", "each",
    "few", "for", "from", "further", "had", "has", "have", "having", "he", "her", "here", "hers", "him", "his", "how",
    "i", "if", "in", "into", "is", "it", "its", "just", "me", "more", "most", "my", "no", "nor", "not", "of", "off",
    "on", "once", "only", "or", "other", "our", "ours", "out", "over", "own", "same", "she", "should", "so", "some",
    "such", "than", "that", "the", "their", "theirs", "them", "then", "there", "these", "they", "this", "those",
    "through", "to", "too", "under", "until", "up", "very", "was", "we", "were", "what", "when", "where", "which",
    "while", "who", "whom", "why", "will", "with", "would", "you", "your", "yours",
];

/// Whether `w` (lowercase) is a stop word.
pub fn is_stop_word(w: &str) -> bool {
    STOP_WORDS.binary_search(&w).is_ok()
}

/// Latin letters with diacritics (and a few ligatures) to ASCII; other characters unchanged
/// (a `None` second letter means one output letter).
fn fold(c: char) -> (char, Option<char>) {
    let one = |c| (c, None);
    match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ą' => one('a'),
        'ç' | 'ć' | 'č' => one('c'),
        'ď' | 'đ' => one('d'),
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ę' | 'ě' => one('e'),
        'ì' | 'í' | 'î' | 'ï' | 'ī' => one('i'),
        'ł' => one('l'),
        'ñ' | 'ń' | 'ň' => one('n'),
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ő' => one('o'),
        'ř' => one('r'),
        'ś' | 'š' | 'ş' => one('s'),
        'ť' | 'ţ' => one('t'),
        'ù' | 'ú' | 'û' | 'ü' | 'ū' | 'ů' | 'ű' => one('u'),
        'ý' | 'ÿ' => one('y'),
        'ź' | 'ż' | 'ž' => one('z'),
        'ß' => ('s', Some('s')),
        'æ' => ('a', Some('e')),
        'œ' => ('o', Some('e')),
        _ => one(c),
    }
}

/// Light suffix stripping (plural and -ing/-ed forms, final -y) so "refunds", "refunded" and
/// "refunding" meet "refund", and "policy" meets "policies". Words of four letters or fewer, and
/// non-ASCII words, are left alone.
pub fn stem(w: &str) -> &str {
    if w.len() <= 4 || !w.is_ascii() {
        return w;
    }
    let s = strip_suffix(w);
    // "policy" → "polic" (as "policies"), "mondays" → "monday" → "monda".
    s.strip_suffix('y').filter(|b| b.len() >= 4).unwrap_or(s)
}

fn strip_suffix(w: &str) -> &str {
    let n = w.len();
    for suffix in ["ies", "ing", "ed", "es", "s"] {
        if let Some(base) = w.strip_suffix(suffix) {
            if base.len() < 3 {
                return w;
            }
            return match suffix {
                "es" if !base.ends_with(['s', 'x', 'z', 'h']) => &w[..n - 1],
                "s" if base.ends_with(['s', 'u', 'i']) => w,
                _ => base,
            };
        }
    }
    w
}

/// Calls `emit` with each index term of `text`: lowercase, ASCII-folded, split on anything that
/// is not a letter or digit, stop words dropped, stemmed. `buf` is scratch space.
pub fn for_each_term(text: &str, buf: &mut String, mut emit: impl FnMut(&str)) {
    let mut flush = |buf: &mut String| {
        if !buf.is_empty() && !is_stop_word(buf) {
            emit(stem(buf));
        }
        buf.clear();
    };
    buf.clear();
    for ch in text.chars() {
        for c in ch.to_lowercase() {
            let (a, b) = fold(c);
            for c in std::iter::once(a).chain(b) {
                if c.is_alphanumeric() {
                    buf.push(c);
                } else if c != '\'' && c != '’' {
                    // An apostrophe joins ("don't" → "dont"); anything else splits.
                    flush(buf);
                }
            }
        }
    }
    flush(buf);
}

/// The terms of `text`, in order.
pub fn terms(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut buf = String::new();
    for_each_term(text, &mut buf, |t| out.push(t.to_string()));
    out
}

/// Splits `text` into chunks of about `size` characters: paragraphs (blank-line separated) are
/// cut into sentences, sentences packed into chunks up to `size` bytes; a chunk cut for size
/// carries its last sentences (up to `overlap` bytes) into the next; a paragraph end closes a
/// chunk already at least half full. Sentences longer than `size` are cut at spaces.
pub fn chunk(text: &str, size: usize, overlap: usize) -> Vec<String> {
    let size = size.max(16);
    let mut chunks = Vec::new();
    let mut cur: Vec<&str> = Vec::new();
    let mut cur_len = 0;
    let mut fresh = 0;
    let len_of = |v: &[&str]| v.iter().map(|s| s.len() + 1).sum::<usize>();
    for para in text.split("\n\n").map(str::trim).filter(|p| !p.is_empty()) {
        for unit in sentences(para).flat_map(|s| pieces(s, size)) {
            if cur_len + unit.len() > size && !cur.is_empty() {
                if fresh > 0 {
                    chunks.push(cur.join(" "));
                    // Carry the tail sentences that fit in the overlap.
                    let mut keep = cur.len();
                    let mut kept = 0;
                    while keep > 0 && kept + cur[keep - 1].len() < overlap {
                        keep -= 1;
                        kept += cur[keep].len() + 1;
                    }
                    cur.drain(..keep);
                }
                if len_of(&cur) + unit.len() > size {
                    cur.clear();
                }
                cur_len = len_of(&cur);
                fresh = 0;
            }
            cur_len += unit.len() + 1;
            cur.push(unit);
            fresh += 1;
        }
        if cur_len >= size / 2 && fresh > 0 {
            chunks.push(cur.join(" "));
            cur.clear();
            cur_len = 0;
            fresh = 0;
        }
    }
    if fresh > 0 {
        chunks.push(cur.join(" "));
    }
    chunks
}

/// Sentences of a paragraph: split after `.`, `!`, `?` followed by whitespace, and at line
/// breaks; trimmed, empty ones dropped.
fn sentences(para: &str) -> impl Iterator<Item = &str> {
    let mut rest = para;
    std::iter::from_fn(move || {
        loop {
            if rest.is_empty() {
                return None;
            }
            let b = rest.as_bytes();
            let mut end = rest.len();
            for i in 0..b.len() {
                let split = b[i] == b'\n'
                    || (matches!(b[i], b'.' | b'!' | b'?') && b.get(i + 1).is_some_and(|c| c.is_ascii_whitespace()));
                if split {
                    end = i + 1;
                    break;
                }
            }
            let s = rest[..end].trim();
            rest = &rest[end..];
            if !s.is_empty() {
                return Some(s);
            }
        }
    })
}

/// `s` cut at spaces (or anywhere, at char boundaries, if it has none) into pieces of at most
/// `size` bytes.
fn pieces(s: &str, size: usize) -> impl Iterator<Item = &str> {
    let mut rest = s;
    std::iter::from_fn(move || {
        rest = rest.trim_start();
        if rest.is_empty() {
            return None;
        }
        if rest.len() <= size {
            let p = rest;
            rest = "";
            return Some(p);
        }
        let mut cut = size;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        if let Some(sp) = rest[..cut].rfind(char::is_whitespace).filter(|&i| i > 0) {
            cut = sp;
        }
        if cut == 0 {
            // A first character wider than `size` bytes: take it whole.
            cut = rest.chars().next().map_or(rest.len(), char::len_utf8);
        }
        let p = rest[..cut].trim_end();
        rest = &rest[cut..];
        Some(p)
    })
}
