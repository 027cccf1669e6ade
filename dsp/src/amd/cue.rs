//! Transcript cues: phrases that only answering machines and carrier voicemail say.

use super::Verdict;

/// Phrases (lowercase, words separated by single spaces) that mark a voicemail greeting.
///
/// Matched on word boundaries after folding the transcript to lowercase ASCII letters, digits and
/// single spaces, so "Voice-mail", "VOICEMAIL." and "can't" ("can t") all match.
pub const MACHINE_CUES: &[&str] = &[
    "leave a message",
    "leave me a message",
    "leave your message",
    "leave your name",
    "leave a brief message",
    "leave a detailed message",
    "not available",
    "unavailable",
    "after the tone",
    "after the beep",
    "at the tone",
    "at the beep",
    "voicemail",
    "voice mail",
    "mailbox",
    "record your message",
    "when you have finished recording",
    "when you are finished recording",
    "automated voice messaging",
    "can t take your call",
    "cannot take your call",
    "can t come to the phone",
    "unable to take your call",
    "unable to answer",
    "missed your call",
    "get back to you",
    "return your call",
    "you have reached",
    "you ve reached",
    "not in service",
    "has been disconnected",
    "the number you have dialed",
    "the number you have dialled",
    "the person you are calling",
    "the subscriber you have dialed",
    "the subscriber you have dialled",
];

/// Whether `text` (an STT transcript of the callee's first words) carries a voicemail cue:
/// `Some(Verdict::Machine)` if any of [`MACHINE_CUES`] occurs in it (case-insensitive, on word
/// boundaries), `None` otherwise (the absence of a cue says nothing about a human).
pub fn transcript_cue(text: &str) -> Option<Verdict> {
    let norm = normalise(text);
    let hay = norm.as_bytes();
    for cue in MACHINE_CUES {
        let c = cue.as_bytes();
        let mut from = 0;
        while let Some(i) = find(&hay[from..], c) {
            let start = from + i;
            let end = start + c.len();
            let left_ok = start == 0 || hay[start - 1] == b' ';
            let right_ok = end == hay.len() || hay[end] == b' ';
            if left_ok && right_ok {
                return Some(Verdict::Machine);
            }
            from = start + 1;
        }
    }
    None
}

/// Lowercase ASCII letters and digits; everything else becomes a single space; accented Latin
/// letters lose their accent.
fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    let mut space = true;
    for ch in text.chars() {
        let c = fold(ch);
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
            space = false;
        } else if !space {
            out.push(' ');
            space = true;
        }
    }
    if out.ends_with(' ') {
        out.pop();
    }
    out
}

/// A few common accented letters to ASCII; anything else unchanged.
fn fold(c: char) -> char {
    match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'À' | 'Á' | 'Â' | 'Ã' | 'Ä' | 'Å' => 'a',
        'è' | 'é' | 'ê' | 'ë' | 'È' | 'É' | 'Ê' | 'Ë' => 'e',
        'ì' | 'í' | 'î' | 'ï' | 'Ì' | 'Í' | 'Î' | 'Ï' => 'i',
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'Ò' | 'Ó' | 'Ô' | 'Õ' | 'Ö' => 'o',
        'ù' | 'ú' | 'û' | 'ü' | 'Ù' | 'Ú' | 'Û' | 'Ü' => 'u',
        'ç' | 'Ç' => 'c',
        'ñ' | 'Ñ' => 'n',
        _ => c,
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || needle.len() > hay.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}
