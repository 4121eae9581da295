//! Why a call ended, and the one function that maps a B-leg failure to the status sent upstream
//! and a hangup cause.

/// Hangup cause, with its ITU-T Q.850 cause value ([`HangupCause::q850`]) for CDRs and Reason headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HangupCause {
    /// 16: a party hung up after answer (BYE), or the caller cancelled.
    NormalClearing,
    /// 17: the callee is busy (486, 600).
    UserBusy,
    /// 18: no user responding (480, the B-leg INVITE got no answer).
    NoUserResponding,
    /// 19: alerted but not answered within the ring timeout.
    NoAnswer,
    /// 1: the number does not exist (404, 484, 604).
    UnallocatedNumber,
    /// 21: the callee or its network refused (403, 603, and any other final refusal).
    CallRejected,
    /// 65 (bearer capability not implemented): the session description was refused (488, 606).
    IncompatibleMedia,
    /// 41: temporary failure of the callee's side (5xx), a route elsewhere may succeed.
    TemporaryFailure,
    /// 102: a transaction towards a leg timed out (408, Timer B/F, ACK never came).
    TimerExpiry,
    /// 47: the media node could not allocate or update the session.
    ResourceUnavailable,
    /// 25: Max-Forwards exhausted, or the A-leg request could not be handled.
    ExchangeRoutingError,
}

impl HangupCause {
    /// The Q.850 cause value.
    pub fn q850(self) -> u16 {
        match self {
            HangupCause::NormalClearing => 16,
            HangupCause::UserBusy => 17,
            HangupCause::NoUserResponding => 18,
            HangupCause::NoAnswer => 19,
            HangupCause::UnallocatedNumber => 1,
            HangupCause::CallRejected => 21,
            HangupCause::IncompatibleMedia => 65,
            HangupCause::TemporaryFailure => 41,
            HangupCause::TimerExpiry => 102,
            HangupCause::ResourceUnavailable => 47,
            HangupCause::ExchangeRoutingError => 25,
        }
    }
}

/// Which side of the call a failure came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureSide {
    /// The caller (A leg).
    ALeg,
    /// The callee or the route towards it (B leg).
    BLeg,
    /// The media node.
    Media,
    /// This B2BUA.
    Internal,
}

/// A failure mapped for the caller: what to answer upstream and what to record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MappedFailure {
    /// Status sent to the A leg.
    pub status: u16,
    /// Its reason phrase.
    pub reason: &'static str,
    /// Hangup cause for the CDR / `Ended` event.
    pub cause: HangupCause,
    /// Whether another route (trunk, node) might succeed where this one failed.
    pub retry_elsewhere: bool,
}

/// Maps the final status a B leg answered (or 408 for a B-leg transaction timeout) to the status
/// sent upstream, its reason and the hangup cause. B's own reason phrase is never passed on.
///
/// | B leg | upstream | cause | retry elsewhere |
/// | --- | --- | --- | --- |
/// | 486, 600 | 486 Busy Here | UserBusy | no |
/// | 480 | 480 Temporarily Unavailable | NoUserResponding | yes |
/// | 408 (or timeout) | 408 Request Timeout | TimerExpiry | yes |
/// | 404, 484, 604 | 404 Not Found | UnallocatedNumber | no |
/// | 488, 606 | 488 Not Acceptable Here | IncompatibleMedia | no |
/// | 603 | 603 Decline | CallRejected | no |
/// | 5xx | 503 Service Unavailable | TemporaryFailure | yes |
/// | 487 | 487 Request Terminated | NormalClearing | no |
/// | other 3xx/4xx (401/407 too: B's challenge is not ours to answer) | 480 Temporarily Unavailable | CallRejected | yes |
/// | other 6xx | 603 Decline | CallRejected | no |
///
/// 5xx become 503 rather than 500: a 500 would blame this B2BUA, and a 503 tells an upstream proxy
/// that another route may succeed (RFC 3261 §21.5.4). B's Retry-After is not copied.
pub fn map_failure(b_status: u16) -> MappedFailure {
    let m = |status, reason, cause, retry_elsewhere| MappedFailure {
        status,
        reason,
        cause,
        retry_elsewhere,
    };
    match b_status {
        486 | 600 => m(486, "Busy Here", HangupCause::UserBusy, false),
        480 => m(
            480,
            "Temporarily Unavailable",
            HangupCause::NoUserResponding,
            true,
        ),
        408 => m(408, "Request Timeout", HangupCause::TimerExpiry, true),
        404 | 484 | 604 => m(404, "Not Found", HangupCause::UnallocatedNumber, false),
        488 | 606 => m(
            488,
            "Not Acceptable Here",
            HangupCause::IncompatibleMedia,
            false,
        ),
        603 => m(603, "Decline", HangupCause::CallRejected, false),
        487 => m(
            487,
            "Request Terminated",
            HangupCause::NormalClearing,
            false,
        ),
        500..=599 => m(
            503,
            "Service Unavailable",
            HangupCause::TemporaryFailure,
            true,
        ),
        600..=699 => m(603, "Decline", HangupCause::CallRejected, false),
        _ => m(
            480,
            "Temporarily Unavailable",
            HangupCause::CallRejected,
            true,
        ),
    }
}

/// Why a call ended (the `cause` of [`crate::Action::Ended`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndCause {
    /// Answered, then this leg sent BYE.
    HangUp(crate::Leg),
    /// The driver (operator, API) hung the call up.
    Administrative,
    /// The caller cancelled before answer.
    CallerCancelled,
    /// No answer within the ring timeout (480 upstream).
    NoAnswer,
    /// The B leg failed with this status (408 for a timeout), mapped by [`map_failure`].
    Rejected {
        /// What B answered.
        b_status: u16,
    },
    /// The caller never ACKed our 2xx (RFC 3261 §13.3.1.4): both legs got a BYE.
    AckTimeout,
    /// The RFC 4028 session timer of the A leg ran out without a refresh (or our refresh got 408,
    /// 481 or no answer): both legs got a BYE.
    SessionExpired,
    /// A failure on one side outside the B leg's answer.
    Failed {
        /// Which side.
        side: FailureSide,
        /// The status sent upstream (or that would have been).
        status: u16,
    },
}

impl EndCause {
    /// Which side failed; `None` for a normal end (hang-up, cancel, operator).
    pub fn side(self) -> Option<FailureSide> {
        match self {
            EndCause::HangUp(_) | EndCause::Administrative | EndCause::CallerCancelled => None,
            EndCause::NoAnswer | EndCause::Rejected { .. } => Some(FailureSide::BLeg),
            EndCause::AckTimeout | EndCause::SessionExpired => Some(FailureSide::ALeg),
            EndCause::Failed { side, .. } => Some(side),
        }
    }

    /// Whether another route (trunk, media node) might succeed: a retryable B-leg failure or a media
    /// failure.
    pub fn retry_elsewhere(self) -> bool {
        match self {
            EndCause::Rejected { b_status } => map_failure(b_status).retry_elsewhere,
            EndCause::Failed { side, .. } => side == FailureSide::Media,
            _ => false,
        }
    }

    /// The hangup cause for a CDR.
    pub fn hangup_cause(self) -> HangupCause {
        match self {
            EndCause::HangUp(_) | EndCause::Administrative | EndCause::CallerCancelled => {
                HangupCause::NormalClearing
            }
            EndCause::NoAnswer => HangupCause::NoAnswer,
            EndCause::Rejected { b_status } => map_failure(b_status).cause,
            EndCause::AckTimeout | EndCause::SessionExpired => HangupCause::TimerExpiry,
            EndCause::Failed {
                side: FailureSide::Media,
                ..
            } => HangupCause::ResourceUnavailable,
            EndCause::Failed { .. } => HangupCause::ExchangeRoutingError,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_and_unavailable_keep_their_status() {
        assert_eq!(map_failure(486).status, 486);
        assert_eq!(map_failure(600).status, 486);
        assert_eq!(map_failure(480).status, 480);
        assert_eq!(map_failure(408).cause, HangupCause::TimerExpiry);
    }

    #[test]
    fn server_errors_become_503_and_may_be_retried() {
        for s in [500, 502, 503, 504, 580] {
            let m = map_failure(s);
            assert_eq!((m.status, m.reason), (503, "Service Unavailable"));
            assert!(m.retry_elsewhere);
        }
    }

    #[test]
    fn challenges_and_redirects_are_not_passed_on() {
        for s in [302, 401, 407, 420] {
            assert_eq!(map_failure(s).status, 480, "{s}");
        }
        assert_eq!(map_failure(699).status, 603);
        assert_eq!(HangupCause::UserBusy.q850(), 17);
    }

    #[test]
    fn end_causes_name_the_failing_side_and_retryability() {
        let busy = EndCause::Rejected { b_status: 486 };
        assert_eq!(
            (busy.side(), busy.retry_elsewhere()),
            (Some(FailureSide::BLeg), false)
        );
        let down = EndCause::Rejected { b_status: 503 };
        assert!(down.retry_elsewhere());
        assert_eq!(down.hangup_cause().q850(), 41);
        assert_eq!(EndCause::HangUp(crate::Leg::A).side(), None);
        let media = EndCause::Failed {
            side: FailureSide::Media,
            status: 503,
        };
        assert!(media.retry_elsewhere());
        assert_eq!(media.hangup_cause(), HangupCause::ResourceUnavailable);
    }
}
