//! Scenario tests for the finer rules: legacy digest, opaque and digest-uri checks, Contact edge cases,
//! expiry bookkeeping, the shared authenticator, and a seeded random-sequence invariant test.

use super::tests::{SRC, URI, answer, contact, register, registrar, request};
use super::*;
use crate::auth::{AuthDecision, AuthRequest};
use crate::digest::{expected_response, ha1 as make_ha1};
use crate::location::MemoryLocationStore;

fn input(uri: &str, expires: Option<u32>) -> ContactInput {
    ContactInput {
        uri: uri.into(),
        expires,
        q: None,
        instance: None,
        reg_id: None,
    }
}

/// A legacy (RFC 2069) answer: no qop, nc or cnonce.
fn legacy(resp: &RegisterResponse, user: &str, password: &str) -> DigestCredentials {
    let mut c = answer(resp, Algorithm::Md5, user, password, 1);
    c.qop = None;
    c.nc = None;
    c.cnonce = None;
    c.response = expected_response(
        Algorithm::Md5,
        &make_ha1(Algorithm::Md5, user, &c.realm, password),
        "REGISTER",
        &c,
    );
    c
}

#[test]
fn rfc2069_response_refused_by_default() {
    let mut r = registrar(RegistrarConfig::default());
    let mut req = request("alice", contact("sip:a@h", None), None, 1);
    let (challenge, _) = r.handle(&req, 1000);
    req.credentials = Some(legacy(&challenge, "alice", "wonderland"));
    let (resp, events) = r.handle(&req, 1000);
    assert_eq!(resp.status, 401);
    assert!(matches!(
        events.as_slice(),
        [RegistrationEvent::AuthFailed { .. }]
    ));
}

#[test]
fn rfc2069_response_allowed_by_config_serves_its_nonce_once() {
    let mut r = registrar(RegistrarConfig {
        allow_rfc2069: true,
        ..RegistrarConfig::default()
    });
    let mut req = request("alice", contact("sip:a@h", None), None, 1);
    let (challenge, _) = r.handle(&req, 1000);
    req.credentials = Some(legacy(&challenge, "alice", "wonderland"));
    assert_eq!(r.handle(&req, 1000).0.status, 200);
    req.cseq = 2;
    assert_eq!(
        r.handle(&req, 1001).0.status,
        401,
        "a legacy nonce is single use"
    );
}

#[test]
fn rfc7616_opaque_must_echo_ours_and_digest_uri_must_match_request_uri() {
    let mut r = registrar(RegistrarConfig::default());
    let mut req = request("alice", contact("sip:a@h", None), None, 1);
    let (challenge, _) = r.handle(&req, 1000);
    let mut bad_opaque = answer(&challenge, Algorithm::Md5, "alice", "wonderland", 1);
    bad_opaque.opaque = Some("forged".into());
    req.credentials = Some(bad_opaque);
    assert_eq!(r.handle(&req, 1000).0.status, 401);
    // The uri is covered by the response, so a client may not sign one Request-URI and send another.
    req.credentials = Some(answer(&challenge, Algorithm::Md5, "alice", "wonderland", 2));
    req.request_uri = "sip:other.example.com".into();
    assert_eq!(r.handle(&req, 1000).0.status, 401);
    // Without opaque (it is optional for the client) and with the right uri: accepted.
    let mut ok = answer(&challenge, Algorithm::Md5, "alice", "wonderland", 3);
    ok.opaque = None;
    req.credentials = Some(ok);
    req.request_uri = URI.into();
    assert_eq!(r.handle(&req, 1000).0.status, 200);
}

#[test]
fn sess_algorithm_accepted_only_when_configured() {
    for (algorithms, want) in [
        (vec![Algorithm::Sha256, Algorithm::Md5], 401),
        (vec![Algorithm::Sha256Sess, Algorithm::Md5], 200),
    ] {
        let mut r = registrar(RegistrarConfig {
            algorithms,
            ..RegistrarConfig::default()
        });
        let mut req = request("alice", contact("sip:a@h", None), None, 1);
        let (challenge, _) = r.handle(&req, 1000);
        let mut c = answer(&challenge, Algorithm::Md5, "alice", "wonderland", 1);
        c.algorithm = Some("SHA-256-sess".into());
        c.response = expected_response(
            Algorithm::Sha256Sess,
            &make_ha1(Algorithm::Sha256, "alice", "switchboard", "wonderland"),
            "REGISTER",
            &c,
        );
        req.credentials = Some(c);
        assert_eq!(r.handle(&req, 1000).0.status, want);
    }
}

#[test]
fn rfc3261_s10_3_step6_wildcard_among_other_contacts_is_400() {
    let mut r = registrar(RegistrarConfig::default());
    let resp = register(
        &mut r,
        request(
            "alice",
            ContactsSpec::List(vec![input("*", None), input("sip:a@h", None)]),
            Some(0),
            1,
        ),
        Algorithm::Md5,
        "wonderland",
        1000,
    );
    assert_eq!(resp.status, 400);
    assert!(resp.reason.contains("Wildcard"));
}

#[test]
fn q_above_one_is_400_and_nothing_changes() {
    let mut r = registrar(RegistrarConfig::default());
    let mut c = input("sip:a@h", None);
    c.q = Some(1001);
    let resp = register(
        &mut r,
        request("alice", ContactsSpec::List(vec![c]), None, 1),
        Algorithm::Md5,
        "wonderland",
        1000,
    );
    assert_eq!(resp.status, 400);
    assert_eq!(r.binding_count(), 0);
}

#[test]
fn rfc3261_s10_3_step7_expires_zero_removes_only_that_contact_and_repeats_are_harmless() {
    let mut r = registrar(RegistrarConfig::default());
    let two = ContactsSpec::List(vec![input("sip:a@1", None), input("sip:a@2", None)]);
    register(
        &mut r,
        request("alice", two, None, 1),
        Algorithm::Md5,
        "wonderland",
        1000,
    );
    assert_eq!(r.binding_count(), 2);
    // The same contact twice with expires=0: one removal, no arithmetic surprise.
    let twice = ContactsSpec::List(vec![input("sip:a@1", Some(0)), input("sip:a@1", Some(0))]);
    let mut req = request("alice", twice, None, 2);
    let (challenge, _) = r.handle(&req, 1000);
    req.credentials = Some(answer(&challenge, Algorithm::Md5, "alice", "wonderland", 1));
    let (resp, events) = r.handle(&req, 1000);
    assert_eq!(resp.status, 200);
    assert_eq!(resp.contacts.len(), 1);
    assert_eq!(resp.contacts[0].uri, "sip:a@2");
    assert!(matches!(
        events.as_slice(),
        [RegistrationEvent::Removed { contact, .. }] if contact == "sip:a@1"
    ));
}

#[test]
fn rfc3261_s10_3_step7_423_only_for_intervals_below_one_hour() {
    let mut r = registrar(RegistrarConfig {
        min_expires: 5000,
        max_expires: 9000,
        ..RegistrarConfig::default()
    });
    let brief = register(
        &mut r,
        request("alice", contact("sip:a@h", Some(3599)), None, 1),
        Algorithm::Md5,
        "wonderland",
        1000,
    );
    assert_eq!((brief.status, brief.min_expires), (423, Some(5000)));
    let hour = register(
        &mut r,
        request("alice", contact("sip:a@h", Some(3600)), None, 2),
        Algorithm::Md5,
        "wonderland",
        1000,
    );
    assert_eq!(hour.status, 200);
    assert_eq!(hour.contacts[0].expires, 3600);
}

#[test]
fn lapsed_binding_not_yet_purged_neither_blocks_cseq_nor_counts() {
    let mut r = registrar(RegistrarConfig {
        max_contacts_per_aor: 1,
        ..RegistrarConfig::default()
    });
    register(
        &mut r,
        request("alice", contact("sip:a@1", Some(60)), None, 9),
        Algorithm::Md5,
        "wonderland",
        1000,
    );
    assert_eq!(r.next_expiry(), Some(1060));
    // At 1061 the binding has lapsed though `expire` has not run: a lower CSeq on the same Call-ID and a
    // different contact are both fine, and the new binding is reported as added.
    let mut req = request("alice", contact("sip:a@1", Some(60)), None, 1);
    let (challenge, _) = r.handle(&req, 1061);
    req.credentials = Some(answer(&challenge, Algorithm::Md5, "alice", "wonderland", 1));
    let (resp, events) = r.handle(&req, 1061);
    assert_eq!(resp.status, 200);
    assert!(matches!(
        events.as_slice(),
        [RegistrationEvent::Added { .. }]
    ));
    let other = register(
        &mut r,
        request("alice", contact("sip:a@2", Some(60)), None, 2),
        Algorithm::Md5,
        "wonderland",
        1200,
    );
    assert_eq!(other.status, 200, "the first binding lapsed at 1121");
    assert_eq!(r.bindings(&Aor::new("alice", "example.com"), 1200).len(), 1);
}

#[test]
fn authenticator_serves_invite_with_the_same_users_and_nonces() {
    let mut r = registrar(RegistrarConfig::default());
    let (challenge, _) = r.handle(&request("alice", ContactsSpec::None, None, 1), 1000);
    let mut c = answer(&challenge, Algorithm::Sha256, "alice", "wonderland", 1);
    c.uri = "sip:bob@example.com".into();
    c.response = expected_response(
        Algorithm::Sha256,
        &make_ha1(Algorithm::Sha256, "alice", "switchboard", "wonderland"),
        "INVITE",
        &c,
    );
    let mut req = AuthRequest {
        method: "INVITE",
        request_uri: "sip:bob@example.com",
        source: SRC.parse().expect("ip"),
        domain: "example.com",
        user: "alice",
        credentials: Some(&c),
    };
    assert_eq!(
        r.authenticator_mut().verify(&req, 1001),
        AuthDecision::Authenticated {
            username: "alice".into()
        }
    );
    // Signed for INVITE, so it is no good for another method.
    req.method = "BYE";
    let replayed = r.authenticator_mut().verify(&req, 1002);
    assert!(matches!(
        replayed,
        AuthDecision::Challenge {
            failed: true,
            stale: false,
            ..
        }
    ));
}

/// xorshift64*: a tiny seeded generator so the random test is reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[test]
fn random_register_sequences_keep_caps_and_expiry_invariants() {
    let cfg = RegistrarConfig {
        max_contacts_per_aor: 3,
        max_bindings: 4,
        ..RegistrarConfig::default()
    };
    let mut r = registrar(cfg.clone());
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let mut now = 1000u64;
    let expiries = [None, Some(0), Some(30), Some(60), Some(600), Some(99_999)];
    let users = [("alice", "wonderland"), ("bob", "builder")];
    let mut seen = std::collections::BTreeMap::<u16, u32>::new();
    for step in 0..400u32 {
        now += rng.below(400);
        let (user, pass) = users[rng.below(2) as usize];
        let contacts = match rng.below(10) {
            0 => ContactsSpec::Wildcard,
            1 => ContactsSpec::None,
            _ => ContactsSpec::List(
                (0..rng.below(5))
                    .map(|_| {
                        let mut c = input(
                            &format!("sip:{user}@h{}", rng.below(5)),
                            expiries[rng.below(6) as usize],
                        );
                        c.q = [None, Some(500), Some(1000), Some(2000)][rng.below(4) as usize];
                        c
                    })
                    .collect(),
            ),
        };
        let mut req = request(
            user,
            contacts,
            expiries[rng.below(6) as usize],
            rng.below(20) as u32,
        );
        req.call_id = format!("call-{}", rng.below(2));
        let before = r.binding_count();
        let resp = register(&mut r, req, Algorithm::Md5, pass, now);
        assert!(
            [200, 400, 403, 423, 500, 503].contains(&resp.status),
            "step {step}: {}",
            resp.status
        );
        *seen.entry(resp.status).or_default() += 1;
        if resp.status != 200 {
            assert_eq!(
                r.binding_count(),
                before,
                "step {step}: a refused REGISTER changes nothing"
            );
        }
        assert!(r.binding_count() <= cfg.max_bindings);
        for c in &resp.contacts {
            assert!(
                (1..=u64::from(cfg.max_expires)).contains(&c.expires),
                "step {step}"
            );
        }
        assert!(resp.contacts.len() <= cfg.max_contacts_per_aor);
        let _ = r.expire(now);
        let aors = r.store().aors();
        let live: usize = aors.iter().map(|a| r.bindings(a, now).len()).sum();
        assert_eq!(
            live,
            r.binding_count(),
            "step {step}: after expire every stored binding is live"
        );
    }
    println!("{seen:?}");
    for status in [200, 400, 403, 423, 500, 503] {
        assert!(
            seen.contains_key(&status),
            "the sequence reached {status}: {seen:?}"
        );
    }
}

#[test]
fn empty_store_registrar_is_debuggable_and_reports_no_expiry() {
    let r = Registrar::new(
        RegistrarConfig::default(),
        Vec::new(),
        [1; 32],
        300,
        MemoryLocationStore::new(),
    );
    assert_eq!(r.next_expiry(), None);
    assert!(format!("{r:?}").contains("Registrar"));
    assert!(
        !format!("{r:?}").contains("[1, 1"),
        "the secret is not printed"
    );
}

#[test]
fn operator_unregister_removes_every_binding_with_events() {
    let mut r = registrar(RegistrarConfig::default());
    let two = ContactsSpec::List(vec![input("sip:a@1", None), input("sip:a@2", None)]);
    register(
        &mut r,
        request("alice", two, None, 1),
        Algorithm::Md5,
        "wonderland",
        1000,
    );
    let events = r.unregister(&Aor::new("alice", "EXAMPLE.com"));
    assert_eq!(events.len(), 2);
    assert!(
        events
            .iter()
            .all(|e| matches!(e, RegistrationEvent::Removed { .. }))
    );
    assert_eq!((r.binding_count(), r.next_expiry()), (0, None));
}
