use std::net::IpAddr;

use super::*;

fn rfc7616_credentials(alg: &str) -> DigestCredentials {
    DigestCredentials {
        username: "Mufasa".into(),
        realm: "http-auth@example.org".into(),
        nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v".into(),
        uri: "/dir/index.html".into(),
        response: String::new(),
        algorithm: Some(alg.into()),
        cnonce: Some("f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ".into()),
        qop: Some("auth".into()),
        nc: Some("00000001".into()),
        opaque: None,
    }
}

#[test]
fn rfc7616_s3_9_1_md5_example() {
    let c = rfc7616_credentials("MD5");
    let h = ha1(
        Algorithm::Md5,
        "Mufasa",
        "http-auth@example.org",
        "Circle of Life",
    );
    assert_eq!(
        expected_response(Algorithm::Md5, &h, "GET", &c),
        "8ca523f5e9506fed4657c9700eebdbec"
    );
}

#[test]
fn rfc7616_s3_9_1_sha256_example() {
    let c = rfc7616_credentials("SHA-256");
    let h = ha1(
        Algorithm::Sha256,
        "Mufasa",
        "http-auth@example.org",
        "Circle of Life",
    );
    assert_eq!(
        expected_response(Algorithm::Sha256, &h, "GET", &c),
        "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
    );
}

#[test]
fn parses_quoted_and_token_params_with_escapes() {
    let c = parse_digest_params(
        r#"Digest username="bob", realm="a \"quoted\" realm",nonce="n1", uri="sip:x", response="r", algorithm=SHA-256, qop=auth, nc=00000002, cnonce="c""#,
    )
    .expect("parses");
    assert_eq!(c.uri, "sip:x");
    assert_eq!(c.username, "bob");
    assert_eq!(c.realm, "a \"quoted\" realm");
    assert_eq!(c.algorithm.as_deref(), Some("SHA-256"));
    assert_eq!(c.nc.as_deref(), Some("00000002"));
    assert_eq!(c.qop.as_deref(), Some("auth"));
    assert_eq!(
        parse_digest_params("Basic dXNlcjpwYXNz"),
        Err(DigestParseError::NotDigest)
    );
    assert_eq!(
        parse_digest_params(r#"Digest username="unterminated"#),
        Err(DigestParseError::Unterminated("username".into()))
    );
}

#[test]
fn rfc8760_nonce_is_bound_to_time_source_and_realm() {
    let issuer = NonceIssuer::new([7; 32], 300);
    let a: IpAddr = "192.0.2.1".parse().expect("ip");
    let b: IpAddr = "192.0.2.2".parse().expect("ip");
    let n = issuer.issue(1000, a, "r");
    assert_ne!(
        n,
        issuer.issue(1000, a, "r"),
        "every challenge gets its own nonce"
    );
    assert_eq!(
        issuer.check(&n, 1000, a, "r"),
        NonceCheck::Valid { issued: 1000 }
    );
    assert_eq!(
        issuer.check(&n, 1300, a, "r"),
        NonceCheck::Valid { issued: 1000 }
    );
    assert_eq!(issuer.check(&n, 1301, a, "r"), NonceCheck::Stale);
    assert_eq!(issuer.check(&n, 1000, b, "r"), NonceCheck::Invalid);
    assert_eq!(issuer.check(&n, 1000, a, "other"), NonceCheck::Invalid);
    let mut forged = n.clone();
    forged.replace_range(0..16, &format!("{:016x}", 1200));
    assert_eq!(issuer.check(&forged, 1250, a, "r"), NonceCheck::Invalid);
    assert_eq!(
        NonceIssuer::new([8; 32], 300).check(&n, 1000, a, "r"),
        NonceCheck::Invalid
    );
    assert_eq!(issuer.check("short", 1000, a, "r"), NonceCheck::Invalid);
}

#[test]
fn challenge_format_lists_qop_and_stale() {
    let c = format_challenge("sb", "n", "o", Algorithm::Sha256, true);
    assert_eq!(
        c,
        r#"Digest realm="sb", nonce="n", opaque="o", algorithm=SHA-256, qop="auth", stale=true"#
    );
}

#[test]
fn rfc2617_s3_5_md5_example() {
    let c = DigestCredentials {
        username: "Mufasa".into(),
        realm: "testrealm@host.com".into(),
        nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093".into(),
        uri: "/dir/index.html".into(),
        response: String::new(),
        algorithm: None,
        cnonce: Some("0a4f113b".into()),
        qop: Some("auth".into()),
        nc: Some("00000001".into()),
        opaque: Some("5ccc069c403ebaf9f0171e9517f40e41".into()),
    };
    let h = ha1(
        Algorithm::Md5,
        "Mufasa",
        "testrealm@host.com",
        "Circle Of Life",
    );
    assert_eq!(
        expected_response(Algorithm::Md5, &h, "GET", &c),
        "6629fae49393a05397450978507c4ef1"
    );
}

#[test]
fn rfc2069_legacy_response_has_no_nc_or_cnonce() {
    let c = DigestCredentials {
        nonce: "n".into(),
        uri: "sip:example.com".into(),
        ..DigestCredentials::default()
    };
    let h = ha1(Algorithm::Md5, "u", "r", "p");
    let ha2 = Algorithm::Md5.hex("REGISTER:sip:example.com");
    assert_eq!(
        expected_response(Algorithm::Md5, &h, "REGISTER", &c),
        Algorithm::Md5.hex(&format!("{h}:n:{ha2}"))
    );
}

#[test]
fn rfc7616_s3_4_2_sess_variants_rehash_ha1_with_nonce_and_cnonce() {
    for (sess, base) in [
        (Algorithm::Md5Sess, Algorithm::Md5),
        (Algorithm::Sha256Sess, Algorithm::Sha256),
    ] {
        assert_eq!(sess.base(), base);
        assert!(sess.is_sess() && !base.is_sess());
        assert_eq!(Algorithm::parse(&sess.as_str().to_uppercase()), Some(sess));
        let stored = ha1(sess, "u", "r", "p");
        assert_eq!(stored, ha1(base, "u", "r", "p"), "stored HA1 is per hash");
        let mut c = rfc7616_credentials(sess.as_str());
        c.response.clear();
        let sess_ha1 = base.hex(&format!(
            "{stored}:{}:{}",
            c.nonce, "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"
        ));
        assert_eq!(
            session_ha1(sess, &stored, &c.nonce, c.cnonce.as_deref().unwrap_or("")),
            sess_ha1
        );
        assert_eq!(
            expected_response(sess, &stored, "GET", &c),
            expected_response(base, &sess_ha1, "GET", &c)
        );
        assert_ne!(
            expected_response(sess, &stored, "GET", &c),
            expected_response(base, &stored, "GET", &c)
        );
    }
    assert_eq!(Algorithm::parse("SHA-512-256"), None);
}

#[test]
fn parser_refuses_malformed_values_with_the_parameter_named() {
    use DigestParseError as E;
    let full = r#"username="u", realm="r", nonce="n", uri="sip:x", response="r""#;
    assert!(parse_digest_params(&format!("Digest {full}")).is_ok());
    assert!(parse_digest_params(&format!("  digest   {full} ,")).is_ok());
    let cases: [(&str, E); 8] = [
        ("Digest", E::Missing("username")),
        (
            r#"Digest username="u", username="v""#,
            E::Duplicate("username".into()),
        ),
        (r#"Digest ="u""#, E::BadName("=\"u\"".into())),
        (r#"Digest username"#, E::NoValue("username".into())),
        (
            r#"Digest username=, realm="r""#,
            E::NoValue("username".into()),
        ),
        (
            r#"Digest username="u" x, realm="r""#,
            E::Trailing("username".into()),
        ),
        (r#"Digest username="u\"#, E::Unterminated("username".into())),
        (
            r#"Digest realm="r", nonce="n", uri="u", response="x""#,
            E::Missing("username"),
        ),
    ];
    for (input, err) in cases {
        assert_eq!(parse_digest_params(input), Err(err), "{input}");
    }
    assert_eq!(
        parse_digest_params(&format!("Digest {}", "a".repeat(9000))),
        Err(E::TooLong)
    );
    // Multi-byte text inside and around values never splits a character.
    let odd = parse_digest_params(&format!("Digest {full}, x=\"é\\ü\", y=ß"));
    assert!(odd.is_ok());
}

#[test]
fn auth_params_keep_order_and_unknown_names() {
    let p = parse_auth_params(r#"Digest realm="a\\b", stale=TRUE, qop="auth,auth-int""#)
        .expect("parses");
    assert_eq!(
        p,
        vec![
            ("realm".to_owned(), r"a\b".to_owned()),
            ("stale".to_owned(), "TRUE".to_owned()),
            ("qop".to_owned(), "auth,auth-int".to_owned()),
        ]
    );
}

#[test]
fn challenge_quotes_realm_and_round_trips_through_the_parser() {
    let c = format_challenge(r#"we "quote" \ this"#, "n1", "o1", Algorithm::Md5, false);
    let p = parse_auth_params(&c).expect("parses");
    assert_eq!(
        p[0],
        ("realm".to_owned(), r#"we "quote" \ this"#.to_owned())
    );
    assert_eq!(p[3], ("algorithm".to_owned(), "MD5".to_owned()));
    assert!(!c.contains("stale"));
}
