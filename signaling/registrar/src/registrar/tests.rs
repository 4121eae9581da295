use super::*;
use crate::digest::{expected_response, ha1 as make_ha1, parse_auth_params};
use crate::location::MemoryLocationStore;

pub(super) const SRC: &str = "192.0.2.10";
pub(super) const URI: &str = "sip:example.com";

pub(super) fn registrar(config: RegistrarConfig) -> Registrar<MemoryLocationStore> {
    let users = vec![
        User {
            username: "alice".into(),
            domain: None,
            secret: Secret::Password("wonderland".into()),
        },
        User {
            username: "bob".into(),
            domain: Some("example.com".into()),
            secret: Secret::Ha1 {
                md5: Some(make_ha1(Algorithm::Md5, "bob", "switchboard", "builder")),
                sha256: None,
            },
        },
    ];
    Registrar::new(config, users, [42; 32], 300, MemoryLocationStore::new())
}

pub(super) fn request(
    user: &str,
    contacts: ContactsSpec,
    expires: Option<u32>,
    cseq: u32,
) -> RegisterRequest {
    RegisterRequest {
        aor: Aor::new(user, "example.com"),
        request_uri: URI.into(),
        source: SRC.parse().expect("ip"),
        received: format!("{SRC}:5060;transport=udp"),
        call_id: format!("call-{user}"),
        cseq,
        contacts,
        expires,
        credentials: None,
        user_agent: None,
    }
}

pub(super) fn contact(uri: &str, expires: Option<u32>) -> ContactsSpec {
    ContactsSpec::List(vec![ContactInput {
        uri: uri.into(),
        expires,
        q: None,
        instance: None,
        reg_id: None,
    }])
}

/// Answers the first challenge of `resp` using `alg` for `user`/`password` with nonce-count `nc`.
pub(super) fn answer(
    resp: &RegisterResponse,
    alg: Algorithm,
    user: &str,
    password: &str,
    nc: u32,
) -> DigestCredentials {
    let challenge = resp
        .www_authenticate
        .iter()
        .find(|c| c.contains(&format!("algorithm={}", alg.as_str())))
        .expect("challenge for algorithm");
    let params = parse_auth_params(challenge).expect("challenge parses");
    let get = |name: &str| {
        params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    let realm = get("realm").expect("realm");
    let mut c = DigestCredentials {
        username: user.into(),
        realm: realm.clone(),
        nonce: get("nonce").expect("nonce"),
        uri: URI.into(),
        response: String::new(),
        algorithm: Some(alg.as_str().into()),
        cnonce: Some("0a4f113b".into()),
        qop: Some("auth".into()),
        nc: Some(format!("{nc:08x}")),
        opaque: get("opaque"),
    };
    c.response = expected_response(alg, &make_ha1(alg, user, &realm, password), "REGISTER", &c);
    c
}

pub(super) fn register(
    r: &mut Registrar<MemoryLocationStore>,
    mut req: RegisterRequest,
    alg: Algorithm,
    pass: &str,
    now: u64,
) -> RegisterResponse {
    let (challenge, _) = r.handle(&req, now);
    assert_eq!(challenge.status, 401);
    let user = req.aor.user.clone();
    req.credentials = Some(answer(&challenge, alg, &user, pass, 1));
    r.handle(&req, now).0
}

#[test]
fn rfc3261_s10_3_register_without_credentials_is_challenged_with_sha256_first_then_md5() {
    let mut r = registrar(RegistrarConfig::default());
    let (resp, events) = r.handle(
        &request("alice", contact("sip:alice@10.0.0.1", None), None, 1),
        1000,
    );
    assert_eq!(resp.status, 401);
    assert!(events.is_empty(), "no credentials is not an auth failure");
    assert_eq!(resp.www_authenticate.len(), 2);
    assert!(resp.www_authenticate[0].contains("algorithm=SHA-256"));
    assert!(resp.www_authenticate[1].contains("algorithm=MD5"));
    assert!(
        resp.www_authenticate
            .iter()
            .all(|c| c.contains("qop=\"auth\"") && !c.contains("stale"))
    );
}

#[test]
fn rfc8760_md5_and_sha256_both_authenticate_and_bind_with_default_expiry() {
    for alg in [Algorithm::Md5, Algorithm::Sha256] {
        let mut r = registrar(RegistrarConfig::default());
        let resp = register(
            &mut r,
            request("alice", contact("sip:alice@10.0.0.1", None), None, 1),
            alg,
            "wonderland",
            1000,
        );
        assert_eq!(resp.status, 200, "{alg:?}");
        assert_eq!(
            resp.contacts,
            vec![BindingView {
                uri: "sip:alice@10.0.0.1".into(),
                expires: 3600,
                q: None,
                instance: None,
                reg_id: None,
                received: format!("{SRC}:5060;transport=udp"),
            }]
        );
    }
}

#[test]
fn rfc3261_s22_wrong_password_and_unknown_user_get_the_same_answer() {
    let mut r = registrar(RegistrarConfig::default());
    let wrong = register(
        &mut r,
        request("alice", contact("sip:a@h", None), None, 1),
        Algorithm::Md5,
        "nope",
        1000,
    );
    let unknown = register(
        &mut r,
        request("mallory", contact("sip:m@h", None), None, 1),
        Algorithm::Md5,
        "x",
        1000,
    );
    assert_eq!(
        (wrong.status, wrong.reason),
        (unknown.status, unknown.reason)
    );
    assert_eq!(wrong.status, 401);
    let shape = |r: &RegisterResponse| {
        r.www_authenticate
            .iter()
            .map(|c| c.len())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        shape(&wrong),
        shape(&unknown),
        "the same fresh challenges, apart from the nonce itself"
    );
    assert_eq!(r.binding_count(), 0);
}

#[test]
fn ha1_only_user_is_offered_md5_only_and_sha256_answer_is_refused() {
    let mut r = registrar(RegistrarConfig::default());
    let mut req = request("bob", contact("sip:bob@h", None), None, 1);
    let (challenge, _) = r.handle(&req, 1000);
    assert_eq!(challenge.www_authenticate.len(), 1);
    assert!(challenge.www_authenticate[0].contains("algorithm=MD5"));
    req.credentials = Some(answer(&challenge, Algorithm::Md5, "bob", "builder", 1));
    assert_eq!(r.handle(&req, 1000).0.status, 200);
    // A client that insists on SHA-256 with the right password still cannot be verified.
    let mut sha = answer(&challenge, Algorithm::Md5, "bob", "builder", 2);
    sha.algorithm = Some("SHA-256".into());
    sha.response = expected_response(
        Algorithm::Sha256,
        &make_ha1(Algorithm::Sha256, "bob", "switchboard", "builder"),
        "REGISTER",
        &sha,
    );
    req.credentials = Some(sha);
    req.cseq = 2;
    assert_eq!(r.handle(&req, 1000).0.status, 401);
}

#[test]
fn unknown_names_get_challenge_shapes_drawn_like_real_users() {
    // Half the users are MD5-only: unknown names must show both shapes, each stable per name.
    let users = (0..8)
        .map(|i| User {
            username: format!("u{i}"),
            domain: None,
            secret: if i % 2 == 0 {
                Secret::Password("p".into())
            } else {
                Secret::Ha1 {
                    md5: Some("00".repeat(16)),
                    sha256: None,
                }
            },
        })
        .collect();
    let mut r = Registrar::new(
        RegistrarConfig::default(),
        users,
        [9; 32],
        300,
        MemoryLocationStore::new(),
    );
    let mut shapes = std::collections::HashSet::new();
    for i in 0..64 {
        let name = format!("nobody{i}");
        let first = r
            .handle(&request(&name, ContactsSpec::None, None, 1), 1000)
            .0;
        let again = r
            .handle(&request(&name, ContactsSpec::None, None, 2), 1001)
            .0;
        assert_eq!(first.www_authenticate.len(), again.www_authenticate.len());
        shapes.insert(first.www_authenticate.len());
    }
    assert_eq!(shapes, [1, 2].into_iter().collect());
}
#[test]
fn rfc7616_s3_4_5_replayed_nonce_count_is_refused_and_higher_count_accepted() {
    let mut r = registrar(RegistrarConfig::default());
    let mut req = request("alice", contact("sip:alice@h", None), None, 1);
    let (challenge, _) = r.handle(&req, 1000);
    req.credentials = Some(answer(&challenge, Algorithm::Md5, "alice", "wonderland", 1));
    req.cseq = 2;
    assert_eq!(r.handle(&req, 1000).0.status, 200);
    req.cseq = 3;
    let (replay, events) = r.handle(&req, 1001);
    assert_eq!(replay.status, 401);
    assert!(matches!(
        events.as_slice(),
        [RegistrationEvent::AuthFailed { .. }]
    ));
    req.credentials = Some(answer(&challenge, Algorithm::Md5, "alice", "wonderland", 2));
    req.cseq = 4;
    assert_eq!(r.handle(&req, 1002).0.status, 200);
}

#[test]
fn rfc7616_stale_nonce_with_right_password_gets_stale_true() {
    let mut r = registrar(RegistrarConfig::default());
    let mut req = request("alice", contact("sip:alice@h", None), None, 1);
    let (challenge, _) = r.handle(&req, 1000);
    req.credentials = Some(answer(&challenge, Algorithm::Md5, "alice", "wonderland", 1));
    let (resp, _) = r.handle(&req, 1000 + 301);
    assert_eq!(resp.status, 401);
    assert!(
        resp.www_authenticate
            .iter()
            .all(|c| c.ends_with("stale=true"))
    );
    // With a wrong password the stale hint is not given.
    req.credentials = Some(answer(&challenge, Algorithm::Md5, "alice", "bad", 1));
    let (resp, _) = r.handle(&req, 1000 + 301);
    assert!(resp.www_authenticate.iter().all(|c| !c.contains("stale")));
}

#[test]
fn nonce_from_another_source_is_refused() {
    let mut r = registrar(RegistrarConfig::default());
    let mut req = request("alice", contact("sip:alice@h", None), None, 1);
    let (challenge, _) = r.handle(&req, 1000);
    req.credentials = Some(answer(&challenge, Algorithm::Md5, "alice", "wonderland", 1));
    req.source = "198.51.100.1".parse().expect("ip");
    assert_eq!(r.handle(&req, 1000).0.status, 401);
}

#[test]
fn rfc3261_s10_3_step4_authenticated_user_must_own_the_aor() {
    let mut r = registrar(RegistrarConfig::default());
    let mut req = request("bob", contact("sip:bob@h", None), None, 1);
    let (challenge, _) = r.handle(&req, 1000);
    req.credentials = Some(answer(&challenge, Algorithm::Md5, "alice", "wonderland", 1));
    assert_eq!(r.handle(&req, 1000).0.status, 403);
}

#[test]
fn rfc3261_s10_3_step7_423_below_min_and_cap_at_max() {
    let mut r = registrar(RegistrarConfig::default());
    let brief = register(
        &mut r,
        request("alice", contact("sip:a@h", Some(30)), None, 1),
        Algorithm::Md5,
        "wonderland",
        1000,
    );
    assert_eq!((brief.status, brief.min_expires), (423, Some(60)));
    assert_eq!(r.binding_count(), 0);
    let long = register(
        &mut r,
        request("alice", contact("sip:a@h", None), Some(99_999), 2),
        Algorithm::Md5,
        "wonderland",
        1000,
    );
    assert_eq!(long.contacts[0].expires, 7200);
}

#[test]
fn rfc3261_s10_3_several_contacts_fetch_and_wildcard_removal() {
    let mut r = registrar(RegistrarConfig::default());
    let two = ContactsSpec::List(vec![
        ContactInput {
            uri: "sip:a@one".into(),
            expires: Some(600),
            q: Some(1000),
            instance: None,
            reg_id: None,
        },
        ContactInput {
            uri: "sip:a@two".into(),
            expires: None,
            q: Some(500),
            instance: Some("<urn:uuid:1>".into()),
            reg_id: Some(1),
        },
    ]);
    let resp = register(
        &mut r,
        request("alice", two, Some(900), 1),
        Algorithm::Md5,
        "wonderland",
        1000,
    );
    assert_eq!(
        resp.contacts.iter().map(|c| c.expires).collect::<Vec<_>>(),
        [600, 900]
    );
    let fetch = register(
        &mut r,
        request("alice", ContactsSpec::None, None, 2),
        Algorithm::Md5,
        "wonderland",
        1100,
    );
    assert_eq!(
        fetch.contacts.iter().map(|c| c.expires).collect::<Vec<_>>(),
        [500, 800]
    );
    let bad = register(
        &mut r,
        request("alice", ContactsSpec::Wildcard, Some(60), 3),
        Algorithm::Md5,
        "wonderland",
        1100,
    );
    assert_eq!(bad.status, 400);
    let all = register(
        &mut r,
        request("alice", ContactsSpec::Wildcard, Some(0), 4),
        Algorithm::Md5,
        "wonderland",
        1100,
    );
    assert_eq!(all.status, 200);
    assert!(all.contacts.is_empty());
    assert_eq!(r.binding_count(), 0);
}

#[test]
fn rfc3261_s10_3_step7_same_call_id_needs_higher_cseq() {
    let mut r = registrar(RegistrarConfig::default());
    assert_eq!(
        register(
            &mut r,
            request("alice", contact("sip:a@h", None), None, 5),
            Algorithm::Md5,
            "wonderland",
            1000
        )
        .status,
        200
    );
    let old = register(
        &mut r,
        request("alice", contact("sip:a@h", Some(0)), None, 4),
        Algorithm::Md5,
        "wonderland",
        1000,
    );
    assert_eq!(old.status, 500, "RFC 3261 §10.3 step 7: the request fails");
    assert_eq!(
        r.binding_count(),
        1,
        "an out-of-order REGISTER must not change the binding"
    );
    let mut other = request("alice", contact("sip:a@h", Some(0)), None, 1);
    other.call_id = "another-call".into();
    assert_eq!(
        register(&mut r, other, Algorithm::Md5, "wonderland", 1000).status,
        200
    );
    assert_eq!(r.binding_count(), 0);
}

#[test]
fn bindings_expire_with_events_and_refresh_is_reported() {
    let mut r = registrar(RegistrarConfig::default());
    register(
        &mut r,
        request("alice", contact("sip:a@h", Some(60)), None, 1),
        Algorithm::Md5,
        "wonderland",
        1000,
    );
    let mut req = request("alice", contact("sip:a@h", Some(120)), None, 2);
    let (challenge, _) = r.handle(&req, 1030);
    req.credentials = Some(answer(&challenge, Algorithm::Md5, "alice", "wonderland", 1));
    let (_, events) = r.handle(&req, 1030);
    assert!(matches!(
        events.as_slice(),
        [RegistrationEvent::Refreshed { expires: 120, .. }]
    ));
    assert!(r.expire(1149).is_empty());
    let expired = r.expire(1150);
    assert!(matches!(
        expired.as_slice(),
        [RegistrationEvent::Expired { .. }]
    ));
    assert_eq!(r.binding_count(), 0);
}

#[test]
fn caps_on_contacts_per_aor_and_total_bindings() {
    let mut r = registrar(RegistrarConfig {
        max_contacts_per_aor: 1,
        max_bindings: 1,
        ..RegistrarConfig::default()
    });
    assert_eq!(
        register(
            &mut r,
            request("alice", contact("sip:a@1", None), None, 1),
            Algorithm::Md5,
            "wonderland",
            1000
        )
        .status,
        200
    );
    assert_eq!(
        register(
            &mut r,
            request("alice", contact("sip:a@2", None), None, 2),
            Algorithm::Md5,
            "wonderland",
            1000
        )
        .status,
        403
    );
    assert_eq!(
        register(
            &mut r,
            request("bob", contact("sip:b@1", None), None, 1),
            Algorithm::Md5,
            "builder",
            1000
        )
        .status,
        503
    );
    assert_eq!(r.binding_count(), 1);
}

#[test]
fn domain_not_served_is_refused_before_authentication() {
    let mut r = registrar(RegistrarConfig {
        domains: vec!["other.org".into()],
        ..RegistrarConfig::default()
    });
    let (resp, _) = r.handle(&request("alice", contact("sip:a@h", None), None, 1), 1000);
    assert_eq!(resp.status, 403);
}
