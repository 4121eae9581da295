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
