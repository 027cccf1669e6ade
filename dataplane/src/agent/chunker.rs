//! Streaming text → speakable chunks: LLM tokens go in as they arrive, sentences and clauses come
//! out as soon as they are complete, so text-to-speech can start before the model finishes.
//!
//! A chunk ends after `. ! ? ; :` followed by white space, or at a newline, once it holds at
//! least [`Chunker::min_len`] characters (short pieces are joined with the next). A chunk never
//! exceeds [`Chunker::max_len`] bytes by more than one character: an over-long run without a
//! boundary is split at its last `, ` or space (or, failing both, at the limit). Decimal numbers
//! (`3.5`), times (`10:30`) and common abbreviations (`Dr.`, `Mr.`, `e.g.`) are not split.
//!
//! Chunks are exact slices of the input: concatenating everything [`Chunker::next_chunk`] and
//! [`Chunker::flush`] return gives back the input, white space included (trim before speaking).

/// Words ending in `.` that do not end a sentence (compared case-insensitively, without the dot).
const ABBREVIATIONS: [&str; 16] = [
    "dr", "mr", "mrs", "ms", "st", "jr", "sr", "prof", "vs", "etc", "e.g", "i.e", "no", "approx", "mt", "ave",
];

/// Default least chunk length, in characters.
pub const DEFAULT_MIN_LEN: usize = 12;
/// Default most chunk length, in bytes.
pub const DEFAULT_MAX_LEN: usize = 220;

/// Splits streamed text into speakable chunks. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct Chunker {
    buf: String,
    min_len: usize,
    max_len: usize,
}

impl Default for Chunker {
    fn default() -> Self {
        Chunker::new(DEFAULT_MIN_LEN, DEFAULT_MAX_LEN)
    }
}

impl Chunker {
    /// A chunker with the given least (characters) and most (bytes, at least 8) chunk lengths.
    pub fn new(min_len: usize, max_len: usize) -> Chunker {
        Chunker {
            buf: String::new(),
            min_len,
            max_len: max_len.max(8),
        }
    }

    /// Least chunk length in characters (shorter sentences are joined with the next).
    pub fn min_len(&self) -> usize {
        self.min_len
    }

    /// Most chunk length in bytes.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// Adds streamed text.
    pub fn push(&mut self, text: &str) {
        self.buf.push_str(text);
    }

    /// Text pushed and not yet returned.
    pub fn pending(&self) -> &str {
        &self.buf
    }

    /// Drops pending text (barge-in).
    pub fn clear(&mut self) {
        self.buf.clear();
    }

    /// The next complete chunk, if one is ready.
    pub fn next_chunk(&mut self) -> Option<String> {
        let end = self.boundary()?;
        let rest = self.buf.split_off(end);
        Some(std::mem::replace(&mut self.buf, rest))
    }

    /// Everything still pending as a last chunk (the model finished); `None` when empty.
    pub fn flush(&mut self) -> Option<String> {
        if self.buf.is_empty() {
            None
        } else {
            Some(std::mem::take(&mut self.buf))
        }
    }

    /// Byte offset just after the first acceptable chunk boundary.
    fn boundary(&self) -> Option<usize> {
        let b = self.buf.as_str();
        let mut chars = b.char_indices().peekable();
        let mut count = 0usize;
        while let Some((i, c)) = chars.next() {
            count += 1;
            let next = chars.peek().map(|&(_, n)| n);
            let end = i + c.len_utf8();
            if end > self.max_len {
                return Some(self.split_long(end));
            }
            let is_boundary = match c {
                '\n' => true,
                '.' | '!' | '?' | ';' | ':' => {
                    next.is_some_and(char::is_whitespace) && !(c == '.' && is_abbreviation(&b[..i]))
                }
                _ => false,
            };
            if !is_boundary || (count < self.min_len && c != '\n') {
                continue;
            }
            if c == '\n' && b[..i].trim().is_empty() {
                // Blank lines join the next chunk.
                continue;
            }
            // Take the white space after the boundary along with it.
            let mut stop = end;
            for (j, w) in b[end..].char_indices() {
                if !w.is_whitespace() {
                    return Some(end + j);
                }
                stop = end + j + w.len_utf8();
            }
            // Only white space follows: more text may still come, but the chunk is complete.
            return Some(stop);
        }
        None
    }

    /// Where to split a run longer than `max_len` (`end` is past the first char beyond it).
    fn split_long(&self, end: usize) -> usize {
        let head = &self.buf[..end];
        if let Some(p) = head.rfind(", ")
            && p > 0
        {
            return p + 2;
        }
        if let Some(p) = head.rfind(char::is_whitespace)
            && p > 0
        {
            let w = head[p..].chars().next().map_or(1, char::len_utf8);
            return p + w;
        }
        end
    }
}

/// Whether the word just before a `.` at the end of `before` is an abbreviation or a single letter.
fn is_abbreviation(before: &str) -> bool {
    let word = before
        .rsplit(|c: char| c.is_whitespace() || c == '(')
        .next()
        .unwrap_or("");
    if word.is_empty() {
        return false;
    }
    let mut cs = word.chars();
    if let (Some(c), None) = (cs.next(), cs.next()) {
        // An initial ("J. Smith"); digits end sentences ("at 5.").
        return c.is_alphabetic() && c.is_uppercase();
    }
    ABBREVIATIONS.iter().any(|a| a.eq_ignore_ascii_case(word))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_chunks(c: &mut Chunker, pieces: &[&str]) -> Vec<String> {
        let mut out = Vec::new();
        for p in pieces {
            c.push(p);
            while let Some(ch) = c.next_chunk() {
                out.push(ch);
            }
        }
        out.extend(c.flush());
        out
    }

    #[test]
    fn splits_sentences_as_they_complete() {
        let mut c = Chunker::default();
        c.push("Hello there, how are you");
        assert_eq!(c.next_chunk(), None);
        c.push(" today? I am");
        assert_eq!(c.next_chunk().as_deref(), Some("Hello there, how are you today? "));
        assert_eq!(c.next_chunk(), None);
        c.push(" fine.");
        // The '.' may still be followed by a digit: wait for the next character.
        assert_eq!(c.next_chunk(), None);
        assert_eq!(c.flush().as_deref(), Some("I am fine."));
    }

    #[test]
    fn numbers_times_and_abbreviations_are_not_split() {
        let mut c = Chunker::new(1, 200);
        let chunks = all_chunks(
            &mut c,
            &[
                "The rate is 3.5 percent at 10:30 with Dr. Smith and J. Doe, e.g. today. ",
                "Next.",
            ],
        );
        assert_eq!(
            chunks,
            vec![
                "The rate is 3.5 percent at 10:30 with Dr. Smith and J. Doe, e.g. today. ".to_owned(),
                "Next.".to_owned()
            ]
        );
    }

    #[test]
    fn short_sentences_join_the_next() {
        let mut c = Chunker::new(12, 200);
        let chunks = all_chunks(&mut c, &["Yes. Sure. I can help with that. Ok"]);
        assert_eq!(chunks, vec!["Yes. Sure. I can help with that. ", "Ok"]);
    }

    #[test]
    fn newlines_and_clauses_end_chunks() {
        let mut c = Chunker::new(4, 200);
        let chunks = all_chunks(&mut c, &["First line\n", "Options: one; two\nthree"]);
        assert_eq!(chunks, vec!["First line\n", "Options: ", "one; ", "two\n", "three"]);
    }

    #[test]
    fn long_runs_split_at_comma_then_space() {
        let mut c = Chunker::new(4, 30);
        let text = "one two three, four five six seven eight nine ten eleven twelve";
        let chunks = all_chunks(&mut c, &[text]);
        assert_eq!(chunks[0], "one two three, ");
        assert!(chunks.iter().all(|ch| ch.len() <= 31), "{chunks:?}");
        assert_eq!(chunks.concat(), text);
        let mut c = Chunker::new(4, 10);
        let chunks = all_chunks(&mut c, &["aaaaaaaaaaaaaaaaaaaaaaaaa"]);
        assert_eq!(chunks.concat(), "aaaaaaaaaaaaaaaaaaaaaaaaa");
        assert!(chunks.len() >= 2);
    }

    /// xorshift64*: a tiny deterministic generator for the property tests.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    #[test]
    fn property_never_panics_and_concatenation_is_the_input() {
        const ALPHABET: [&str; 22] = [
            "a", "b", "Dr", "3", ".", ".", "!", "?", ";", ":", ",", " ", " ", "\n", "é", "日本", "😀", "e.g", "\t",
            "5", "x", "Mr",
        ];
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for case in 0..3000 {
            let len = rng.below(120);
            let mut text = String::new();
            for _ in 0..len {
                text.push_str(ALPHABET[rng.below(ALPHABET.len())]);
            }
            let min = rng.below(20);
            let max = 8 + rng.below(60);
            let mut c = Chunker::new(min, max);
            // Feed in random pieces (on char boundaries).
            let chars: Vec<char> = text.chars().collect();
            let mut out = String::new();
            let mut k = 0;
            while k < chars.len() {
                let n = 1 + rng.below(8);
                let piece: String = chars[k..(k + n).min(chars.len())].iter().collect();
                k += n;
                c.push(&piece);
                while let Some(ch) = c.next_chunk() {
                    assert!(!ch.is_empty(), "case {case}: empty chunk");
                    assert!(ch.len() <= max + 4, "case {case}: chunk {ch:?} longer than {max}");
                    out.push_str(&ch);
                }
            }
            out.extend(c.flush());
            assert_eq!(out, text, "case {case}");
        }
    }
}
