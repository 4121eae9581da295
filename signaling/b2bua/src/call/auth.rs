//! Answering a digest challenge to the B-leg INVITE (RFC 3261 §22.2, §22.3; RFC 7616 and RFC 8760
//! algorithms): a carrier trunk that answers 401 or 407 gets the INVITE again, with a new branch,
//! the next CSeq and credentials — only when the route carries credentials for the challenge's
//! realm. A second challenge for the same route is answered only when it says `stale=true` (a
//! new nonce); otherwise the failure stands, so wrong credentials never loop. A challenged BYE to
//! the B leg is sent again once with the same credentials.

use switchboard_registrar::digest::{self, Algorithm, DigestCredentials};
use switchboard_sip::{Auth, AuthBuilder, HeaderName, Message};

use super::{BState, Call, CancelState, Leg, TxMethod};

impl<K: Clone> Call<K> {
    /// A 401/407 to the B-leg INVITE: sends the INVITE again with credentials when it can;
    /// `false` leaves it a failure.
    pub(super) fn retry_with_credentials(&mut self, response: &Message<'_>) -> bool {
        let Some(auth) = self.route.auth.clone() else {
            return false;
        };
        if !self.may_retry_b_invite() {
            return false;
        }
        let Some(mut invite) = self.b_invite.clone() else {
            return false;
        };
        let Ok(seq) = invite.cseq().map(|c| c.seq) else {
            return false;
        };
        let Ok(uri) = invite.request_uri().map(|u| u.to_string()) else {
            return false;
        };
        let cnonce = self.rng.token();
        let Some(answer) = answer_challenge(response, &auth, "INVITE", &uri, &cnonce) else {
            return false;
        };
        if self.challenges_answered >= 2 || (self.challenges_answered == 1 && !answer.stale) {
            return false;
        }
        let (header, value) = (answer.header, answer.value);
        invite.remove_header(&header);
        invite.push_header(header, value);
        self.challenges_answered += 1;
        self.resend_b_invite(invite, seq);
        true
    }

    /// Whether the B-leg INVITE may be sent again after a 401/407 or 422: still calling, not being
    /// cancelled, and the call still wants an answer.
    pub(super) fn may_retry_b_invite(&self) -> bool {
        let calling = matches!(
            self.b_state,
            BState::Calling {
                cancel: CancelState::NotWanted,
                ..
            }
        );
        calling && self.awaiting_answer() && self.cause.is_none()
    }

    /// Sends `invite` (whose CSeq was `seq`) to B again as a new transaction: a new Via branch
    /// and the next CSeq, in the same Call-ID and From tag.
    pub(super) fn resend_b_invite(&mut self, mut invite: Message<'static>, seq: u32) {
        let via = self.via(Leg::B);
        invite.set_header(HeaderName::Via, via);
        invite.set_header(HeaderName::CSeq, format!("{} INVITE", seq + 1));
        self.b_invite = Some(invite.clone());
        self.b_dialog = None;
        self.b_state = BState::Calling {
            provisional: false,
            cancel: CancelState::NotWanted,
        };
        self.send_request(Leg::B, TxMethod::Invite, invite);
    }
}

impl<K: Clone> Call<K> {
    /// A carrier challenged our BYE (401/407): sends it again, once, in the B dialog with the
    /// route's credentials (RFC 3261 §22.2 applies to every request). `false` when there is
    /// nothing to answer with (the BYE then counts as done).
    pub(super) fn retry_bye_with_credentials(&mut self, response: &Message<'_>) -> bool {
        let Some(auth) = self.route.auth.clone() else {
            return false;
        };
        if self.b_state != BState::ByeSent || self.bye_challenged {
            return false;
        }
        let Some(mut bye) = self.b_request(switchboard_sip::Method::Bye) else {
            return false;
        };
        let uri = match bye.request_uri() {
            Ok(u) => u.to_string(),
            Err(_) => return false,
        };
        let cnonce = self.rng.token();
        let Some(answer) = answer_challenge(response, &auth, "BYE", &uri, &cnonce) else {
            return false;
        };
        bye.push_header(answer.header, answer.value);
        self.add_reason(&mut bye);
        self.bye_challenged = true;
        self.send_request(Leg::B, TxMethod::Bye, bye);
        true
    }
}

/// Credentials answering a challenge: the header to add and its value.
#[derive(Debug, Clone)]
pub struct ChallengeAnswer {
    /// `Authorization` for a 401, `Proxy-Authorization` for a 407.
    pub header: HeaderName<'static>,
    /// The credentials.
    pub value: String,
    /// The challenge said `stale=true` (our previous credentials were right, the nonce expired).
    pub stale: bool,
}

/// Answers the Digest challenge of a 401/407 `response` whose realm is `auth.realm` for a request
/// `method` to `uri` (RFC 3261 §22.2; MD5, SHA-256 and their `-sess` forms; `qop=auth` with nonce
/// count 1 and `cnonce`, or the RFC 2069 form when the challenge offers no qop). `None` when the
/// response carries no such challenge we can answer.
pub fn answer_challenge(
    response: &Message<'_>,
    auth: &super::RouteAuth,
    method: &str,
    uri: &str,
    cnonce: &str,
) -> Option<ChallengeAnswer> {
    let (challenges, header) = match response.status()? {
        401 => (response.www_authenticate(), HeaderName::Authorization),
        407 => (
            response.proxy_authenticate(),
            HeaderName::ProxyAuthorization,
        ),
        _ => return None,
    };
    let challenges = challenges.ok()?;
    let challenge = challenges.iter().find(|c| {
        c.is_digest()
            && c.get("realm").as_deref() == Some(auth.realm.as_str())
            && algorithm(c).is_some()
    })?;
    let stale = challenge
        .get("stale")
        .is_some_and(|s| s.eq_ignore_ascii_case("true"));
    let value = credentials(challenge, auth, method, uri, cnonce)?;
    Some(ChallengeAnswer {
        header,
        value,
        stale,
    })
}

/// The challenge's algorithm, if we implement it (absent means MD5).
fn algorithm(challenge: &Auth<'_>) -> Option<Algorithm> {
    match challenge.get("algorithm") {
        None => Some(Algorithm::Md5),
        Some(a) => Algorithm::parse(&a),
    }
}

/// The `Authorization`/`Proxy-Authorization` value answering `challenge` for `method` to `uri`:
/// `qop=auth` when offered (nonce count 1, our `cnonce`), the RFC 2069 form when no qop is offered,
/// nothing when only `auth-int` is.
fn credentials(
    challenge: &Auth<'_>,
    auth: &super::RouteAuth,
    method: &str,
    uri: &str,
    cnonce: &str,
) -> Option<String> {
    let alg = algorithm(challenge)?;
    let nonce = challenge.get("nonce")?.into_owned();
    let qop = match challenge.get("qop") {
        None => None,
        Some(list) => Some(
            list.split(',')
                .map(str::trim)
                .find(|q| q.eq_ignore_ascii_case("auth"))?
                .to_owned(),
        ),
    };
    let opaque = challenge.get("opaque").map(|o| o.into_owned());
    let c = DigestCredentials {
        username: auth.username.clone(),
        realm: auth.realm.clone(),
        nonce,
        uri: uri.to_owned(),
        response: String::new(),
        algorithm: Some(alg.as_str().to_owned()),
        cnonce: qop.as_ref().map(|_| cnonce.to_owned()),
        qop,
        nc: None,
        opaque,
    };
    let c = DigestCredentials {
        nc: c.qop.as_ref().map(|_| "00000001".to_owned()),
        ..c
    };
    let ha1 = digest::ha1(alg, &auth.username, &auth.realm, &auth.password);
    let response = digest::expected_response(alg, &ha1, method, &c);
    let mut v = AuthBuilder::new("Digest")
        .quoted("username", &c.username)
        .quoted("realm", &c.realm)
        .quoted("nonce", &c.nonce)
        .quoted("uri", uri)
        .quoted("response", &response)
        .token("algorithm", alg.as_str());
    if let (Some(qop), Some(cnonce), Some(nc)) = (&c.qop, &c.cnonce, &c.nc) {
        v = v.token("qop", qop).quoted("cnonce", cnonce).token("nc", nc);
    }
    if let Some(o) = &c.opaque {
        v = v.quoted("opaque", o);
    }
    Some(v.build())
}
