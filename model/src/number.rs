//! Phone-number normalisation shared by DID mappings, routing and dial requests.
//!
//! Numbers are "E.164-ish": an optional leading `+` followed by 3 to 15 digits. Spaces, dashes,
//! dots and parentheses that people type are removed; nothing else is accepted.

/// Fewest digits a number may have.
pub const MIN_DIGITS: usize = 3;
/// Most digits a number may have (E.164).
pub const MAX_DIGITS: usize = 15;

/// Why a number was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NumberError {
    /// Empty after removing separators.
    #[error("number is empty")]
    Empty,
    /// A character that is neither a digit, a leading `+` nor a separator.
    #[error("invalid character {0:?} in number")]
    BadChar(char),
    /// Fewer than [`MIN_DIGITS`] or more than [`MAX_DIGITS`] digits.
    #[error("number has {0} digits (expected {MIN_DIGITS} to {MAX_DIGITS})")]
    Length(usize),
}

fn is_separator(c: char) -> bool {
    matches!(c, ' ' | '-' | '.' | '(' | ')' | '\t')
}

/// Normalises `raw`: separators removed, a leading `+` kept. `"+1 (555) 010-0000"` → `"+15550100000"`.
pub fn normalize(raw: &str) -> Result<String, NumberError> {
    let mut out = String::with_capacity(raw.len());
    let mut digits = 0usize;
    for c in raw.trim().chars() {
        if c.is_ascii_digit() {
            out.push(c);
            digits += 1;
        } else if c == '+' && out.is_empty() {
            out.push('+');
        } else if !is_separator(c) {
            return Err(NumberError::BadChar(c));
        }
    }
    if digits == 0 {
        return Err(NumberError::Empty);
    }
    if !(MIN_DIGITS..=MAX_DIGITS).contains(&digits) {
        return Err(NumberError::Length(digits));
    }
    Ok(out)
}

/// The digits of a normalised number without its `+`: the key DIDs are matched on, so that
/// `+15550100000` and `15550100000` are the same number.
pub fn digits_key(normalized: &str) -> &str {
    normalized.strip_prefix('+').unwrap_or(normalized)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_separators_and_keeps_plus() {
        assert_eq!(normalize("+1 (555) 010-0000").unwrap(), "+15550100000");
        assert_eq!(normalize(" 0049 30.1234 ").unwrap(), "0049301234");
        assert_eq!(digits_key("+4930"), "4930");
        assert_eq!(digits_key("4930"), "4930");
    }

    #[test]
    fn rejects_bad_numbers() {
        assert_eq!(normalize(""), Err(NumberError::Empty));
        assert_eq!(normalize("+-"), Err(NumberError::Empty));
        assert_eq!(normalize("12"), Err(NumberError::Length(2)));
        assert_eq!(normalize("1234567890123456"), Err(NumberError::Length(16)));
        assert_eq!(normalize("12+34"), Err(NumberError::BadChar('+')));
        assert_eq!(normalize("555-CALL"), Err(NumberError::BadChar('C')));
    }
}
