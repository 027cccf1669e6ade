//! The 16 DTMF digits, their RFC 4733 event codes and their frequency pairs.

use super::DtmfError;

/// Low-group (row) frequencies in Hz.
pub(crate) const ROWS: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
/// High-group (column) frequencies in Hz.
pub(crate) const COLS: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];

/// Keypad layout: `KEYPAD[row][col]`.
const KEYPAD: [[DtmfDigit; 4]; 4] = {
    use DtmfDigit::*;
    [[D1, D2, D3, A], [D4, D5, D6, B], [D7, D8, D9, C], [Star, D0, Pound, D]]
};

/// A DTMF digit. The discriminant is the RFC 4733 event code (0–9, `*` = 10, `#` = 11, A–D = 12–15).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum DtmfDigit {
    /// `0`
    D0 = 0,
    /// `1`
    D1 = 1,
    /// `2`
    D2 = 2,
    /// `3`
    D3 = 3,
    /// `4`
    D4 = 4,
    /// `5`
    D5 = 5,
    /// `6`
    D6 = 6,
    /// `7`
    D7 = 7,
    /// `8`
    D8 = 8,
    /// `9`
    D9 = 9,
    /// `*`
    Star = 10,
    /// `#`
    Pound = 11,
    /// `A`
    A = 12,
    /// `B`
    B = 13,
    /// `C`
    C = 14,
    /// `D`
    D = 15,
}

impl DtmfDigit {
    /// All 16 digits in event-code order.
    pub const ALL: [DtmfDigit; 16] = {
        use DtmfDigit::*;
        [D0, D1, D2, D3, D4, D5, D6, D7, D8, D9, Star, Pound, A, B, C, D]
    };

    /// The digit of an RFC 4733 event code, if it is one of 0..=15.
    pub fn from_event(code: u8) -> Option<Self> {
        Self::ALL.get(usize::from(code)).copied()
    }

    /// The RFC 4733 event code.
    pub fn event(self) -> u8 {
        self as u8
    }

    /// The digit for a keypad character (`0`-`9`, `*`, `#`, `A`-`D`, case-insensitive).
    pub fn from_char(ch: char) -> Result<Self, DtmfError> {
        let code = match ch {
            '0'..='9' => ch as u8 - b'0',
            '*' => 10,
            '#' => 11,
            'A'..='D' => ch as u8 - b'A' + 12,
            'a'..='d' => ch as u8 - b'a' + 12,
            _ => return Err(DtmfError::InvalidDigit { ch }),
        };
        Self::from_event(code).ok_or(DtmfError::InvalidDigit { ch })
    }

    /// The keypad character.
    pub fn as_char(self) -> char {
        b"0123456789*#ABCD"[usize::from(self.event())] as char
    }

    /// (row, column) index on the keypad.
    pub(crate) fn position(self) -> (usize, usize) {
        for (r, row) in KEYPAD.iter().enumerate() {
            for (c, &d) in row.iter().enumerate() {
                if d == self {
                    return (r, c);
                }
            }
        }
        (0, 0)
    }

    /// The digit at a keypad (row, column).
    pub(crate) fn at(row: usize, col: usize) -> Option<Self> {
        KEYPAD.get(row).and_then(|r| r.get(col)).copied()
    }

    /// (low, high) frequencies in Hz.
    pub fn freqs(self) -> (f32, f32) {
        let (r, c) = self.position();
        (ROWS[r], COLS[c])
    }
}

impl std::fmt::Display for DtmfDigit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.as_char())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_chars_and_freqs() {
        for d in DtmfDigit::ALL {
            assert_eq!(DtmfDigit::from_event(d.event()), Some(d));
            assert_eq!(DtmfDigit::from_char(d.as_char()), Ok(d));
            let (r, c) = d.position();
            assert_eq!(DtmfDigit::at(r, c), Some(d));
        }
        assert_eq!(DtmfDigit::from_event(16), None);
        assert_eq!(DtmfDigit::from_char('x'), Err(DtmfError::InvalidDigit { ch: 'x' }));
        assert_eq!(DtmfDigit::from_char('b'), Ok(DtmfDigit::B));
        assert_eq!(DtmfDigit::D5.freqs(), (770.0, 1336.0));
        assert_eq!(DtmfDigit::Pound.freqs(), (941.0, 1477.0));
        assert_eq!(DtmfDigit::D.freqs(), (941.0, 1633.0));
    }
}
