//! RFC 4475 (SIP torture tests) and RFC 5118 (IPv6) categories, with our own messages under
//! `tests/torture/{valid,invalid}`. Every file must have an expectation here and every expectation a file.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use switchboard_sip::{Contacts, HeaderName, Host, Message, Method, Rport, Scheme, bad_request};

/// Reads a torture file: LF → CRLF, then `{CL}` → body length, `{CTL}` → 0x01, `{FF}` → 0xFF.
fn load(path: &Path) -> Vec<u8> {
    let text = fs::read_to_string(path)
        .expect("readable torture file")
        .replace('\n', "\r\n");
    let body_len = text.split_once("\r\n\r\n").map_or(0, |(_, b)| b.len());
    let text = text
        .replace("{CL}", &body_len.to_string())
        .replace("{CTL}", "\u{1}");
    let mut bytes = Vec::with_capacity(text.len());
    for (i, part) in text.split("{FF}").enumerate() {
        if i > 0 {
            bytes.push(0xff);
        }
        bytes.extend_from_slice(part.as_bytes());
    }
    bytes
}

fn files(dir: &str) -> BTreeMap<String, Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/torture")
        .join(dir);
    fs::read_dir(&dir)
        .expect("torture dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "sip"))
        .map(|p| {
            (
                p.file_name().expect("name").to_string_lossy().into_owned(),
                load(&p),
            )
        })
        .collect()
}

fn contacts<'m>(m: &'m Message<'_>) -> Vec<switchboard_sip::NameAddr<'m>> {
    match m.contacts().expect("contacts") {
        Contacts::List(l) => l,
        other => panic!("expected a contact list, got {other:?}"),
    }
}

fn v6(s: &str) -> Host<'static> {
    Host::Ipv6(s.parse().expect("ipv6 literal"))
}

fn check_valid(name: &str, m: &Message<'_>) {
    match name {
        "compact_forms.sip" => {
            assert_eq!(m.top_via().expect("via").branch(), Some("z9hG4bKcompact1"));
            assert_eq!(m.from().expect("from").tag(), Some("88sja8x"));
            assert_eq!(
                m.call_id().expect("cid"),
                "3848276298220188511@atlanta.example.com"
            );
            assert_eq!(m.supported().expect("k"), vec!["timer", "100rel"]);
            assert_eq!(m.header(&HeaderName::Subject), Some("compact names"));
            assert_eq!(m.header(&HeaderName::ContentEncoding), Some("gzip"));
            assert_eq!(
                m.header(&HeaderName::CallInfo),
                Some("<http://www.example.com/alice/photo.jpg> ;purpose=icon")
            );
            assert_eq!(m.body(), b"v=0\r\n");
        }
        "whitespace_folding.sip" => {
            assert_eq!(m.to().expect("to").tag(), Some("1918181833n"));
            let from = m.from().expect("from");
            assert_eq!(from.display_name().as_deref(), Some("J Rosenberg \\\""));
            assert_eq!(from.tag(), Some("98asjd8"));
            assert_eq!(m.max_forwards().expect("mf"), Some(68));
            assert_eq!(m.cseq().expect("cseq").seq, 9);
            let vias = m.vias().expect("vias");
            assert_eq!(vias.len(), 3);
            assert_eq!(
                (vias[0].transport, vias[0].branch()),
                ("UDP", Some("390skdjuw"))
            );
            assert_eq!(vias[0].rport(), Some(Rport::Requested));
            assert_eq!(
                (vias[1].transport, vias[1].host, vias[1].branch()),
                (
                    "TCP",
                    Host::Domain("spindle.example.com"),
                    Some("z9hG4bK9ikj8")
                )
            );
            assert_eq!(vias[2].branch(), Some("z9hG4bK30239"));
            assert_eq!(
                m.header(&"newfangledheader".into()),
                Some("newfangled value continued newfangled value")
            );
            assert_eq!(m.header(&HeaderName::Subject), Some(""));
            assert!(
                m.routes().expect("route")[0]
                    .uri
                    .params
                    .contains("unknown-no-value")
            );
            let c = contacts(m);
            assert_eq!(c[0].display_name().as_deref(), Some("Quoted string \"\""));
            assert_eq!(c[0].param("newparam"), Some("newvalue"));
            assert!(c[0].params.contains("secondparam"));
            assert_eq!(c[0].q(), Some(Ok(330)));
            assert!(m.body().starts_with(b"v=0\r\no=mhandley"));
        }
        "long_values.sip" => {
            assert_eq!(m.vias().expect("vias").len(), 6);
            assert_eq!(m.top_via().expect("via").branch().map(str::len), Some(307));
            assert_eq!(
                m.to().expect("to").display_name().map(|d| d.len()),
                Some(320)
            );
            assert_eq!(m.cseq().expect("cseq").seq, 2_147_483_647);
            assert_eq!(
                m.header(&"x-very-long-header".into()).map(str::len),
                Some(3000)
            );
            assert_eq!(contacts(m)[0].uri.host, Some(v6("2001:db8::1")));
        }
        "escaped_uri.sip" => {
            let ruri = m.request_uri().expect("ruri");
            assert_eq!(
                ruri.user_decoded().as_deref(),
                Some("sips:user@example.com")
            );
            assert_eq!(
                m.to().expect("to").uri.user_decoded().as_deref(),
                Some("alice")
            );
            assert_eq!(
                m.from().expect("from").uri.user_decoded().as_deref(),
                Some("I have spaces")
            );
            let c = contacts(m);
            assert_eq!(c[0].uri.user_decoded().as_deref(), Some("caller"));
            assert_eq!(c[0].uri.param("n%61me"), Some("v%61lue%25%34%31"));
        }
        "escaped_nulls.sip" => {
            assert_eq!(
                m.to().expect("to").uri.user_decoded().as_deref(),
                Some("null-\0-null")
            );
            let c = contacts(m);
            assert_eq!(c.len(), 2);
            assert_eq!(c[1].uri.user_decoded().as_deref(), Some("\0\0"));
            assert_eq!(m.content_length().expect("cl"), Some(0));
        }
        "percent_not_escape.sip" => {
            assert_eq!(m.method().map(Method::as_str), Some("RE%47IST%45R"));
            assert_eq!(m.to().expect("to").display_name().as_deref(), Some("%Z%45"));
            assert_eq!(contacts(m).len(), 2);
            assert_eq!(
                m.header(&"C%6Fntact".into()),
                Some("<sip:alias2@host2.example.com>")
            );
        }
        "semicolon_user.sip" => {
            let ruri = m.request_uri().expect("ruri");
            assert_eq!(ruri.user, Some("user;par=u%40example.net"));
            assert_eq!(
                ruri.user_decoded().as_deref(),
                Some("user;par=u@example.net")
            );
            assert_eq!(ruri.host, Some(Host::Domain("example.com")));
            assert_eq!(m.values(&HeaderName::Accept).count(), 6);
        }
        "unknown_scheme.sip" => {
            let ruri = m.request_uri().expect("ruri");
            assert_eq!(ruri.scheme, Scheme::Other("nobodyKnowsThisScheme"));
            assert_eq!(ruri.opaque, Some("totallyopaquecontent"));
            assert_eq!(contacts(m)[0].uri.scheme, Scheme::Other("urn"));
        }
        "unknown_method.sip" => {
            assert_eq!(m.method(), Some(&Method::Extension("NEWMETHOD".into())));
            assert_eq!(m.cseq().expect("cseq").method.as_str(), "NEWMETHOD");
            assert!(
                m.call_id()
                    .expect("cid")
                    .starts_with("intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"]")
            );
            assert_eq!(m.body(), b"unknown method body\r\n");
        }
        "multipart.sip" => {
            let parts = m.multipart().expect("multipart").expect("is multipart");
            assert_eq!(parts.len(), 2);
            assert_eq!(parts[0].header("Content-Type"), Some("text/plain"));
            assert_eq!(parts[0].body, b"first part");
            assert_eq!(parts[1].header("content-id"), Some("<part2@example.com>"));
            assert_eq!(parts[1].body, b"<presence/>");
        }
        "utf8_reason.sip" => {
            assert_eq!(m.status(), Some(200));
            assert_eq!(
                m.reason(),
                Some("= 2**3 * 5**2 но сто девяносто девять - простое")
            );
        }
        "empty_reason.sip" => {
            assert_eq!((m.status(), m.reason()), (Some(100), Some("")));
        }
        "tel_and_quoted.sip" => {
            let ruri = m.request_uri().expect("ruri");
            assert_eq!(
                (ruri.scheme, ruri.user, ruri.param("phone-context")),
                (Scheme::Tel, Some("+1-201-555-0123"), Some("example.com"))
            );
            assert_eq!(
                m.from().expect("from").display_name().as_deref(),
                Some("Joe \"the \\ boss\" Bloggs")
            );
            assert_eq!(m.to().expect("to").uri.scheme, Scheme::Tel);
            let pai = m.p_asserted_identity().expect("pai");
            assert_eq!(pai.len(), 2);
            assert_eq!(pai[1].uri.user, Some("+12015550100"));
        }
        "register_wildcard.sip" => {
            assert_eq!(m.contacts().expect("contacts"), Contacts::Wildcard);
            assert_eq!(m.expires().expect("expires"), Some(0));
        }
        "register_digest.sip" => {
            let c = contacts(m);
            assert_eq!(c.len(), 2);
            assert_eq!(c[0].expires(), Some(Ok(3600)));
            assert_eq!(c[0].q(), Some(Ok(500)));
            assert_eq!(
                c[0].instance().as_deref(),
                Some("<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>")
            );
            assert_eq!(c[0].reg_id(), Some(1));
            assert_eq!(c[1].uri.host, Some(v6("2001:db8::20")));
            let auth = m.authorization().expect("auth");
            let a = &auth[0];
            assert_eq!(a.username().as_deref(), Some("bob"));
            assert_eq!(a.realm().as_deref(), Some("example.com"));
            assert_eq!(
                a.nonce().as_deref(),
                Some("ea9c8e88df84f1cec4341ae6cbe5a359")
            );
            assert_eq!(a.uri().as_deref(), Some("sip:example.com"));
            assert_eq!(
                a.response().as_deref(),
                Some("dfe56131d1958046689d83306477ecc3")
            );
            assert_eq!(a.algorithm().as_deref(), Some("SHA-256"));
            assert_eq!(a.cnonce().as_deref(), Some("0a4f113b"));
            assert_eq!(
                (a.qop().as_deref(), a.nc().as_deref()),
                (Some("auth"), Some("00000001"))
            );
            assert_eq!(a.opaque().as_deref(), Some(""));
            assert_eq!(a.get("userhash").as_deref(), Some("false"));
            assert_eq!(m.expires().expect("expires"), Some(7200));
            assert_eq!(m.allow().expect("allow").len(), 5);
            assert_eq!(
                m.supported().expect("supported"),
                vec!["path", "gruu", "outbound"]
            );
            assert_eq!(m.user_agent(), Some("Switchboard torture/1.0 (test)"));
        }
        "no_content_length.sip" => assert_eq!(m.body(), b"datagram body without length\r\n"),
        "extra_body_bytes.sip" => assert_eq!(m.body(), b"hello"),
        "dialog_extensions.sip" => {
            let v = m.top_via().expect("via");
            assert_eq!(
                (v.transport, v.port, v.received(), v.ttl(), v.maddr()),
                (
                    "TLS",
                    Some(5061),
                    Some("192.0.2.99"),
                    Some(1),
                    Some("239.255.255.1")
                )
            );
            assert_eq!(v.param("x-custom"), Some("1"));
            assert_eq!(m.from().expect("from").uri.scheme, Scheme::Sips);
            let rr = m.record_routes().expect("rr");
            assert_eq!(rr.len(), 2);
            assert!(rr[0].uri.lr());
            assert_eq!(
                m.routes().expect("route")[0].uri.host,
                Some(Host::Domain("p3.example.com"))
            );
            let se = m.session_expires().expect("se").expect("present");
            assert_eq!((se.delta, se.refresher()), (1800, Some("uac")));
            assert_eq!(m.min_se().expect("min-se").map(|s| s.delta), Some(90));
            assert_eq!(m.require().expect("require"), vec!["timer", "100rel"]);
            assert_eq!(m.proxy_require().expect("proxy-require"), vec!["foo"]);
            let r = m.replaces().expect("replaces").expect("present");
            assert_eq!(
                (r.call_id, r.from_tag(), r.to_tag()),
                ("98732@sip.example.com", Some("r33th4x0r"), Some("ff87ff"))
            );
            assert_eq!(
                m.referred_by().expect("rb").map(|a| a.uri.user),
                Some(Some("referrer"))
            );
            let reason = m.reasons().expect("reason");
            assert_eq!(
                (
                    reason[0].protocol,
                    reason[0].cause(),
                    reason[0].text().as_deref()
                ),
                ("SIP", Some(200), Some("Call completed elsewhere"))
            );
            assert_eq!(m.server(), Some("Torture/2.0"));
        }
        "prack_refer.sip" => {
            let rack = m.rack().expect("rack").expect("present");
            assert_eq!(
                (rack.rseq, rack.cseq, rack.method),
                (776656, 1, Method::Invite)
            );
            assert_eq!(m.rseq().expect("rseq"), Some(5));
            let refer = m.refer_to().expect("refer-to").expect("present");
            assert_eq!(
                refer.uri.header("replaces").as_deref(),
                Some("12345@192.0.2.1;to-tag=1;from-tag=2")
            );
            assert!(m.referred_by().expect("b").is_some());
            assert_eq!(m.unsupported().expect("unsupported"), vec!["foo", "bar"]);
        }
        // RFC 5118 §4.1: bracketed IPv6 in Request-URI, Via and Contact.
        "ipv6_basic.sip" => {
            assert_eq!(
                m.request_uri().expect("ruri").host,
                Some(v6("2001:db8::10"))
            );
            assert_eq!(m.top_via().expect("via").host, v6("2001:db8::9:1"));
            assert_eq!(contacts(m)[0].uri.host, Some(v6("2001:db8::1")));
        }
        // RFC 5118 §4.2: IPv6 reference with a port.
        "ipv6_port.sip" => {
            let ruri = m.request_uri().expect("ruri");
            assert_eq!(
                (ruri.host, ruri.port),
                (Some(v6("2001:db8::10")), Some(5070))
            );
            let v = m.top_via().expect("via");
            assert_eq!((v.host, v.port), (v6("2001:db8::9:1"), Some(6050)));
            assert_eq!(contacts(m)[0].uri.port, Some(5060));
        }
        // RFC 5118 §4.3: IPv4-mapped IPv6 addresses.
        "ipv6_mapped.sip" => {
            assert_eq!(
                m.request_uri().expect("ruri").host,
                Some(v6("::ffff:192.0.2.10"))
            );
            assert_eq!(m.top_via().expect("via").host, v6("::ffff:192.0.2.128"));
        }
        // RFC 5118 §4.5: IPv6 in the Via received parameter, bare and bracketed.
        "ipv6_received.sip" => {
            let vias = m.vias().expect("vias");
            assert_eq!(vias[0].received(), Some("2001:db8::9:255"));
            assert_eq!(vias[1].received(), Some("[2001:db8::9:256]"));
            assert_eq!(vias[1].rport(), Some(Rport::Port(5070)));
        }
        // RFC 5118 §4.4: `[2001:db8::10:5070]` is one IPv6 address, not an address and a port.
        "ipv6_port_ambiguous.sip" => {
            let ruri = m.request_uri().expect("ruri");
            assert_eq!(
                (ruri.host, ruri.port),
                (Some(v6("2001:db8::10:5070")), None)
            );
        }
        // RFC 5118 §4.6: several Contacts mixing IPv6 and IPv4.
        "ipv6_multi_contact.sip" => {
            let c = contacts(m);
            assert_eq!(c[0].uri.host, Some(v6("2001:db8::9:1")));
            assert_eq!(
                c[1].uri.host,
                Some(Host::Ipv4("192.0.2.1".parse().expect("v4")))
            );
        }
        // RFC 4475 §3.1.1.10: varied and unknown transport tokens.
        "transports.sip" => {
            let t: Vec<_> = m
                .vias()
                .expect("vias")
                .iter()
                .map(|v| v.transport)
                .collect();
            assert_eq!(t, ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]);
        }
        // RFC 4475 §3.1.1.6: no LWS between display name and <.
        "no_lws_display_name.sip" => {
            assert_eq!(
                m.to().expect("to").display_name().as_deref(),
                Some("callee")
            );
            assert_eq!(
                m.from().expect("from").display_name().as_deref(),
                Some("caller")
            );
            assert_eq!(m.from().expect("from").tag(), Some("323"));
        }
        other => panic!("no expectation for valid/{other}"),
    }
}

/// (file, header named in the error, status, can a response be sent)
const INVALID: &[(&str, Option<&str>, u16, bool)] = &[
    ("angle_without_open.sip", Some("To"), 400, true),
    ("bad_status_code.sip", None, 400, false),
    ("bad_uri_port.sip", Some("To"), 400, true),
    ("call_id_twice.sip", Some("Call-ID"), 400, true),
    ("cl_larger_than_body.sip", Some("Content-Length"), 400, true),
    ("cl_negative.sip", Some("Content-Length"), 400, true),
    ("cl_not_number.sip", Some("Content-Length"), 400, true),
    ("cl_twice.sip", Some("Content-Length"), 400, true),
    ("contact_star_mixed.sip", Some("Contact"), 400, true),
    ("contact_unbracketed_ipv6.sip", Some("Contact"), 400, true),
    ("continuation_first.sip", None, 400, true),
    ("control_character.sip", Some("Subject"), 400, true),
    ("cseq_method_mismatch.sip", Some("CSeq"), 400, true),
    ("cseq_not_number.sip", Some("CSeq"), 400, true),
    ("cseq_too_large.sip", Some("CSeq"), 400, true),
    ("cseq_twice.sip", Some("CSeq"), 400, true),
    ("display_name_specials.sip", Some("From"), 400, true),
    ("expires_not_number.sip", Some("Expires"), 400, true),
    ("from_twice.sip", Some("From"), 400, true),
    ("header_name_with_space.sip", None, 400, true),
    ("header_without_colon.sip", None, 400, true),
    (
        "max_forwards_not_number.sip",
        Some("Max-Forwards"),
        400,
        true,
    ),
    (
        "max_forwards_too_large.sip",
        Some("Max-Forwards"),
        400,
        true,
    ),
    ("missing_call_id.sip", Some("Call-ID"), 400, false),
    ("missing_cseq.sip", Some("CSeq"), 400, false),
    ("missing_from.sip", Some("From"), 400, false),
    ("missing_to.sip", Some("To"), 400, false),
    ("missing_via.sip", Some("Via"), 400, false),
    ("no_empty_line.sip", None, 400, false),
    ("not_utf8.sip", None, 400, false),
    ("overlarge_status_code.sip", None, 400, false),
    ("request_line_double_space.sip", None, 400, true),
    ("request_line_trailing_space.sip", None, 400, true),
    ("response_missing_via.sip", Some("Via"), 400, false),
    ("route_unterminated.sip", Some("Route"), 400, true),
    ("ruri_angle_brackets.sip", Some("Request-URI"), 400, true),
    ("ruri_escaped_headers.sip", Some("Request-URI"), 400, true),
    ("ruri_unbracketed_ipv6.sip", Some("Request-URI"), 400, true),
    ("ruri_whitespace.sip", None, 400, true),
    ("to_two_uris.sip", Some("To"), 400, true),
    ("unterminated_angle.sip", Some("Contact"), 400, true),
    ("unterminated_quote.sip", Some("From"), 400, true),
    ("version_7.sip", None, 505, true),
    ("version_garbage.sip", None, 400, true),
    ("via_bad_ttl.sip", Some("Via"), 400, false),
    ("via_unbracketed_ipv6.sip", Some("Via"), 400, false),
    ("via_without_host.sip", Some("Via"), 400, false),
];

#[test]
fn rfc4475_valid_messages_parse_with_expected_values() {
    let files = files("valid");
    assert!(files.len() >= 20);
    for (name, bytes) in &files {
        let m = Message::parse(bytes).unwrap_or_else(|e| panic!("valid/{name} rejected: {e}"));
        check_valid(name, &m);
        let printed = m.encode();
        let again = Message::parse(&printed)
            .unwrap_or_else(|e| panic!("valid/{name} reprint rejected: {e}"));
        assert_eq!(m, again, "valid/{name}: parse → print → parse differs");
    }
}

#[test]
fn rfc4475_invalid_messages_are_rejected() {
    let files = files("invalid");
    let listed: Vec<_> = INVALID.iter().map(|c| c.0).collect();
    let present: Vec<_> = files.keys().map(String::as_str).collect();
    assert_eq!(
        listed, present,
        "every invalid file needs exactly one expectation"
    );
    for &(name, header, status, respondable) in INVALID {
        let bytes = &files[name];
        let err = match Message::parse(bytes) {
            Ok(m) => panic!("invalid/{name} accepted: {m:?}"),
            Err(e) => e,
        };
        assert_eq!(
            (err.header, err.status, err.respondable),
            (header, status, respondable),
            "invalid/{name}: {err}"
        );
        let answer = bad_request(bytes, &err);
        assert_eq!(answer.is_some(), respondable, "invalid/{name}");
        if let Some(a) = answer {
            // The answer copies the request's headers, the malformed one included, so check it structurally.
            assert_eq!(a.status(), Some(status));
            assert!(
                a.top_via().is_ok(),
                "invalid/{name}: answer has a routable Via"
            );
            let printed = a.encode();
            assert!(printed.starts_with(format!("SIP/2.0 {status} ").as_bytes()));
            assert!(
                a.header(&HeaderName::CallId).is_some() && a.header(&HeaderName::CSeq).is_some()
            );
        }
    }
}
