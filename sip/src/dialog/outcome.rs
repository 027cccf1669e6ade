//! Mapping of an outbound call's final response to the call outcome the platform records.

/// How an outbound call attempt ended before (or by) being answered. Names match DESIGN.md's
/// `disconnected_by` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboundOutcome {
    /// A 2xx: the call was answered.
    Answered,
    /// 486 Busy Here, 600 Busy Everywhere, 603 Decline.
    Rejected {
        /// The final status code.
        code: u16,
    },
    /// 408, 480, or 487 after our own timeout / CANCEL; also no final response at all (`code` 408).
    NoAnswer {
        /// The final status code.
        code: u16,
    },
    /// Any other 3xx–6xx (and 487 we did not cause).
    Error {
        /// The final status code.
        code: u16,
    },
}

impl OutboundOutcome {
    /// Classifies a final status code. `cancelled_by_us` is true when we sent CANCEL (ring
    /// timeout or the application hung up), which turns 487 into `no_answer`.
    pub fn from_final_status(code: u16, cancelled_by_us: bool) -> OutboundOutcome {
        match code {
            200..=299 => OutboundOutcome::Answered,
            486 | 600 | 603 => OutboundOutcome::Rejected { code },
            408 | 480 => OutboundOutcome::NoAnswer { code },
            487 if cancelled_by_us => OutboundOutcome::NoAnswer { code },
            _ => OutboundOutcome::Error { code },
        }
    }

    /// The `disconnected_by` value for a call that ended this way (`None` when answered).
    pub fn disconnected_by(&self) -> Option<&'static str> {
        match self {
            OutboundOutcome::Answered => None,
            OutboundOutcome::Rejected { .. } => Some("rejected"),
            OutboundOutcome::NoAnswer { .. } => Some("no_answer"),
            OutboundOutcome::Error { .. } => Some("error"),
        }
    }

    /// The final status code (200 for answered).
    pub fn code(&self) -> u16 {
        match *self {
            OutboundOutcome::Answered => 200,
            OutboundOutcome::Rejected { code }
            | OutboundOutcome::NoAnswer { code }
            | OutboundOutcome::Error { code } => code,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::OutboundOutcome as O;

    #[test]
    fn outcome_mapping() {
        assert_eq!(O::from_final_status(200, false), O::Answered);
        for c in [486, 600, 603] {
            assert_eq!(O::from_final_status(c, false).disconnected_by(), Some("rejected"));
        }
        for c in [408, 480] {
            assert_eq!(O::from_final_status(c, false).disconnected_by(), Some("no_answer"));
        }
        assert_eq!(O::from_final_status(487, true), O::NoAnswer { code: 487 });
        assert_eq!(O::from_final_status(487, false), O::Error { code: 487 });
        assert_eq!(O::from_final_status(503, false), O::Error { code: 503 });
        assert_eq!(O::from_final_status(404, false).code(), 404);
        assert_eq!(O::from_final_status(404, false).disconnected_by(), Some("error"));
    }
}
