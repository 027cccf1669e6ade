//! Word-level helpers of the local responder: words, content words, sentences, questions,
//! and the sections the conversation layer appends to the system prompt.

/// Words that carry no topic (left out when matching a question to knowledge).
const STOPWORDS: &[&str] = &[
    "a",
    "about",
    "am",
    "an",
    "and",
    "any",
    "are",
    "as",
    "at",
    "be",
    "but",
    "by",
    "can",
    "could",
    "do",
    "does",
    "for",
    "from",
    "get",
    "have",
    "has",
    "how",
    "i",
    "i'd",
    "i'm",
    "if",
    "in",
    "is",
    "it",
    "it's",
    "know",
    "like",
    "me",
    "my",
    "of",
    "on",
    "or",
    "our",
    "please",
    "so",
    "tell",
    "that",
    "the",
    "their",
    "there",
    "this",
    "to",
    "us",
    "want",
    "was",
    "we",
    "what",
    "when",
    "where",
    "which",
    "who",
    "why",
    "will",
    "with",
    "would",
    "you",
    "your",
    "yes",
    "no",
    "ok",
    "okay",
    "hi",
    "hello",
    "um",
    "uh",
    "just",
    "also",
    "some",
    "much",
    "many",
    "more",
    "then",
    "they",
    "them",
    "is",
    "were",
    "been",
    "did",
    "should",
    "may",
    "might",
    "need",
    "wondering",
];

/// Words that start a question.
const INTERROGATIVES: &[&str] = &[
    "what", "what's", "when", "where", "who", "whom", "whose", "why", "how", "which", "can", "could", "do", "does",
    "did", "is", "are", "was", "were", "will", "would", "should", "may", "have", "has", "am",
];

/// Lower-case words of `s` (letters, digits, inner apostrophes).
pub(crate) fn words(s: &str) -> Vec<String> {
    s.split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '\u{2019}'))
        .map(|w| w.replace('\u{2019}', "'").trim_matches('\'').to_lowercase())
        .filter(|w| !w.is_empty())
        .collect()
}

/// A light stem: plural and -ing/-ed endings removed, so "appointments" matches "appointment".
pub(crate) fn stem(w: &str) -> String {
    let w = w.strip_suffix("'s").unwrap_or(w);
    let n = w.chars().count();
    if let Some(s) = w.strip_suffix("ies").filter(|_| n > 4) {
        return format!("{s}y");
    }
    if let Some(s) = w.strip_suffix("ing").filter(|_| n > 5) {
        return s.to_owned();
    }
    if let Some(s) = w.strip_suffix("ed").filter(|_| n > 4) {
        return s.to_owned();
    }
    if let Some(s) = w.strip_suffix('s').filter(|s| n > 3 && !s.ends_with('s')) {
        return s.to_owned();
    }
    w.to_owned()
}

/// Distinct stemmed content words of `s`.
pub(crate) fn content_words(s: &str) -> Vec<String> {
    let mut v: Vec<String> = words(s)
        .iter()
        .filter(|w| !STOPWORDS.contains(&w.as_str()))
        .map(|w| stem(w))
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// How many of `query` (content words) occur in `text`.
pub(crate) fn overlap(query: &[String], text: &str) -> usize {
    let t = content_words(text);
    query.iter().filter(|q| t.binary_search(q).is_ok()).count()
}

/// Whether the caller asks something (a question mark, a question word first, or "tell me").
pub(crate) fn is_question(s: &str) -> bool {
    if s.contains('?') {
        return true;
    }
    let w = words(s);
    let Some(first) = w.first() else { return false };
    if INTERROGATIVES.contains(&first.as_str()) {
        return true;
    }
    let joined = w.join(" ");
    [
        "tell me",
        "do you know",
        "i want to know",
        "i'd like to know",
        "i would like to know",
        "wondering",
    ]
    .iter()
    .any(|p| joined.contains(p))
}

/// Sentences of `s` (split after `.`, `!`, `?` followed by a space or the end).
pub(crate) fn sentences(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let b = s.as_bytes();
    for (i, &c) in b.iter().enumerate() {
        if matches!(c, b'.' | b'!' | b'?') && b.get(i + 1).is_none_or(|n| n.is_ascii_whitespace()) {
            let t = s[start..=i].trim();
            if !t.is_empty() {
                out.push(t);
            }
            start = i + 1;
        }
    }
    let t = s[start..].trim();
    if !t.is_empty() {
        out.push(t);
    }
    out
}

/// The `- chunk` lines of the `Relevant knowledge:` section of a system prompt.
pub(crate) fn knowledge_chunks(system: &str) -> Vec<&str> {
    let Some(at) = system.find("Relevant knowledge:\n") else {
        return Vec::new();
    };
    system[at + "Relevant knowledge:\n".len()..]
        .lines()
        .take_while(|l| l.starts_with("- "))
        .map(|l| l[2..].trim())
        .filter(|l| !l.is_empty())
        .collect()
}

/// Whether `said` contains the start of `step` (its first four words, or all when shorter),
/// or ends with at least its first three words (the caller cut it short there).
pub(crate) fn contains_start(said: &str, step: &str) -> bool {
    let s = words(step);
    if s.is_empty() {
        return false;
    }
    let m = words(said);
    let head = &s[..s.len().min(4)];
    if m.windows(head.len()).any(|w| w == head) {
        return true;
    }
    (s.len().min(3)..=s.len().min(m.len())).any(|j| m.ends_with(&s[..j]))
}

/// Whitespace collapsed and the space an empty variable leaves before punctuation removed.
pub(crate) fn tidy(text: &str) -> String {
    let t = text.split_whitespace().collect::<Vec<_>>().join(" ");
    t.replace(" ,", ",")
        .replace(" .", ".")
        .replace(" ?", "?")
        .replace(" !", "!")
}
