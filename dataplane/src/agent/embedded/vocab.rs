//! The recogniser's vocabulary for one call: the bot's own words (from `SttParams.keywords`)
//! plus everyday call words, compiled into a JSGF word-loop grammar. pocketsphinx's full
//! language model is weak on telephone and synthetic speech; a loop over a few hundred words
//! biased to what the bot talks about is far more reliable.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

/// Words callers say on almost any call; always part of a keyword grammar.
pub(crate) const BASE_WORDS: &[&str] = &[
    "a",
    "about",
    "account",
    "afternoon",
    "again",
    "agent",
    "all",
    "am",
    "an",
    "and",
    "any",
    "anyone",
    "appointment",
    "are",
    "at",
    "available",
    "back",
    "be",
    "bill",
    "book",
    "bye",
    "call",
    "can",
    "cancel",
    "change",
    "could",
    "day",
    "did",
    "do",
    "does",
    "don't",
    "eight",
    "evening",
    "fine",
    "five",
    "for",
    "four",
    "friday",
    "from",
    "get",
    "good",
    "goodbye",
    "great",
    "have",
    "hello",
    "help",
    "hi",
    "hold",
    "how",
    "human",
    "i",
    "i'd",
    "i'm",
    "in",
    "is",
    "it",
    "just",
    "know",
    "later",
    "like",
    "manager",
    "maybe",
    "me",
    "minute",
    "monday",
    "more",
    "morning",
    "much",
    "my",
    "name",
    "need",
    "next",
    "nine",
    "no",
    "not",
    "now",
    "number",
    "of",
    "ok",
    "okay",
    "on",
    "one",
    "operator",
    "or",
    "order",
    "person",
    "phone",
    "please",
    "price",
    "question",
    "real",
    "repeat",
    "right",
    "saturday",
    "say",
    "see",
    "seven",
    "six",
    "so",
    "someone",
    "sorry",
    "speak",
    "sunday",
    "sure",
    "talk",
    "tell",
    "ten",
    "thank",
    "thanks",
    "that",
    "that's",
    "the",
    "there",
    "this",
    "three",
    "thursday",
    "time",
    "to",
    "today",
    "tomorrow",
    "transfer",
    "tuesday",
    "two",
    "uh",
    "um",
    "want",
    "was",
    "we",
    "wednesday",
    "week",
    "what",
    "when",
    "where",
    "which",
    "who",
    "why",
    "will",
    "with",
    "would",
    "yeah",
    "yes",
    "you",
    "your",
];

/// Longest word kept (longer tokens are noise such as URLs).
const MAX_WORD_LEN: usize = 24;
/// Most keyword words kept for one call.
const MAX_WORDS: usize = 600;

/// A call's vocabulary, lower case, sorted, without duplicates; `key` identifies it so a
/// decoder compiles each distinct grammar once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Vocabulary {
    /// Hash of `words`.
    pub key: u64,
    /// The words (empty: no keywords, use the language model).
    pub words: Vec<String>,
}

impl Vocabulary {
    /// The vocabulary of `keywords` (phrases or words) plus [`BASE_WORDS`]; empty when there
    /// are no keywords.
    pub fn from_keywords(keywords: &[String]) -> Vocabulary {
        let mut words: Vec<String> = Vec::new();
        for k in keywords {
            words.extend(split_words(k));
            if words.len() > 4 * MAX_WORDS {
                break;
            }
        }
        if !words.is_empty() {
            words.extend(BASE_WORDS.iter().map(|w| (*w).to_owned()));
        }
        words.sort_unstable();
        words.dedup();
        words.truncate(MAX_WORDS + BASE_WORDS.len());
        let mut h = DefaultHasher::new();
        words.hash(&mut h);
        Vocabulary { key: h.finish(), words }
    }
}

/// The words of `text`: lower case ASCII letters and inner apostrophes; other tokens dropped.
pub(crate) fn split_words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '\'' || c == '\u{2019}'))
        .map(|w| w.replace('\u{2019}', "'").trim_matches('\'').to_ascii_lowercase())
        .filter(|w| !w.is_empty() && w.len() <= MAX_WORD_LEN && w.bytes().all(|b| b.is_ascii_lowercase() || b == b'\''))
}

/// A JSGF grammar accepting any sequence of `words`.
pub(crate) fn word_loop_jsgf(words: &[&str]) -> String {
    let mut g = String::from("#JSGF V1.0;\ngrammar cxb;\npublic <utt> = <w>*;\n<w> = ");
    for (i, w) in words.iter().enumerate() {
        if i > 0 {
            g.push_str(" | ");
        }
        g.push_str(w);
    }
    g.push_str(";\n");
    g
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_become_sorted_unique_words_plus_base_words() {
        let v = Vocabulary::from_keywords(&["Book an APPOINTMENT, today!".into(), "Dr. O’Neil's 3 clinics".into()]);
        assert!(v.words.contains(&"appointment".to_owned()));
        assert!(v.words.contains(&"o'neil's".to_owned()));
        assert!(v.words.contains(&"clinics".to_owned()));
        assert!(v.words.contains(&"goodbye".to_owned()));
        assert!(!v.words.iter().any(|w| w == "3" || w.is_empty()));
        assert!(v.words.windows(2).all(|p| p[0] < p[1]));
        assert_eq!(
            v,
            Vocabulary::from_keywords(&["book an appointment today".into(), "dr o'neil's clinics".into()])
        );
    }

    #[test]
    fn no_keywords_means_no_grammar() {
        assert!(Vocabulary::from_keywords(&[]).words.is_empty());
        assert!(Vocabulary::from_keywords(&["  ,, 42".into()]).words.is_empty());
    }

    #[test]
    fn grammar_is_a_word_loop() {
        assert_eq!(
            word_loop_jsgf(&["yes", "no"]),
            "#JSGF V1.0;\ngrammar cxb;\npublic <utt> = <w>*;\n<w> = yes | no;\n"
        );
    }
}
