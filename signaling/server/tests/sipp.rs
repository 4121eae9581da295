//! Black-box tests: the release `switchboard-signaling` binary driven by sipp scenarios from `tests/sipp/`.
//! Each scenario must finish with 0 failed calls; sipp counts an unexpected message as a failed call.

mod support;

use support::{Server, config_with, sipp};

fn assert_passes(scenario: &str, server: &Server, transport: &str, extra: &[&str]) {
    let run = sipp(scenario, server.sip, transport, extra);
    assert!(
        run.success,
        "{scenario} over {transport} failed:\n{}\n--- server log ---\n{}",
        run.output,
        server.log()
    );
}

/// sipp arguments for the user part (`[service]`) and the digest credentials (`[authentication]`).
fn as_user<'a>(user: &'a str, pass: &'a str) -> [&'a str; 6] {
    ["-s", user, "-au", user, "-ap", pass]
}

#[test]
fn rfc3261_s10_register_with_digest_fetch_and_deregister_udp_and_tcp() {
    let server = Server::start(&config_with(""));
    assert_passes(
        "register_digest.xml",
        &server,
        "udp",
        &as_user("1001", "1001pass"),
    );
    assert_passes(
        "register_digest.xml",
        &server,
        "tcp",
        &as_user("1001", "1001pass"),
    );
    let (code, body) = server.http_get("/health");
    assert_eq!(code, 200);
    assert!(
        body.contains("\"registrations\":0"),
        "de-REGISTER must leave no binding: {body}"
    );
}

#[test]
fn rfc3261_s22_wrong_password_and_unknown_user_get_the_same_refusal() {
    let server = Server::start(&config_with(""));
    let wrong = as_user("1001", "not-the-password");
    assert_passes("register_wrong_password.xml", &server, "udp", &wrong);
    let unknown = as_user("9999", "whatever");
    assert_passes("register_wrong_password.xml", &server, "udp", &unknown);
    let (_, body) = server.http_get("/health");
    assert!(
        body.contains("\"registrations\":0"),
        "no binding may be created: {body}"
    );
}

#[test]
fn rfc3261_s11_options_answered_with_allow_supported_and_rport() {
    let server = Server::start(&config_with(""));
    assert_passes("options.xml", &server, "udp", &[]);
    assert_passes("options.xml", &server, "tcp", &[]);
}

#[test]
fn rfc3261_s8_2_1_unknown_method_501_and_unsupported_405() {
    let server = Server::start(&config_with(""));
    assert_passes("unknown_method.xml", &server, "udp", &[]);
}

#[test]
fn rfc3261_s8_2_malformed_requests_get_400_naming_the_header() {
    let server = Server::start(&config_with(""));
    assert_passes("malformed.xml", &server, "udp", &[]);
    assert_passes("malformed.xml", &server, "tcp", &[]);
}
