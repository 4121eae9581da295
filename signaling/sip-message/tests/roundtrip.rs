//! Property tests: messages generated from structured strategies parse with the values they were built
//! from, and parse → print → parse gives an equal message. Arbitrary and mutated input never panics.

use proptest::prelude::*;
use switchboard_sip::framing::{Frame, next_message};
use switchboard_sip::{Contacts, Framing, Message, ParseLimits, bad_request};

fn token() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9][a-zA-Z0-9.!%*_+`'~-]{0,15}"
}

fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9-]{0,10}(\\.[a-z][a-z0-9]{0,8}){0,3}",
        (0u8..=255, 0u8..=255, 0u8..=255, 1u8..=254)
            .prop_map(|(a, b, c, d)| format!("{a}.{b}.{c}.{d}")),
        any::<[u16; 8]>().prop_map(|s| format!("[{}]", std::net::Ipv6Addr::from(s))),
    ]
}

fn port() -> impl Strategy<Value = String> {
    prop_oneof![Just(String::new()), (1u16..).prop_map(|p| format!(":{p}"))]
}

fn user() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9_.!~*'()&=+$,;?/-]{1,12}",
        "[a-z]{1,5}%[0-9A-F]{2}[a-z]{0,5}",
        "\\+[0-9]{6,12}",
    ]
}

fn uri() -> impl Strategy<Value = String> {
    (
        prop_oneof![Just("sip"), Just("sips")],
        proptest::option::of(user()),
        host(),
        port(),
        proptest::collection::vec(token(), 0..3),
    )
        .prop_map(|(scheme, user, host, port, params)| {
            let user = user.map(|u| format!("{u}@")).unwrap_or_default();
            let params: String = params
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    if i % 2 == 0 {
                        format!(";{p}")
                    } else {
                        format!(";x{i}={p}")
                    }
                })
                .collect();
            format!("{scheme}:{user}{host}{port}{params}")
        })
}

fn display() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[a-zA-Z]{1,8}( [a-zA-Z]{1,8}){0,2}".prop_map(|d| format!("{d} ")),
        "[ -!#-\\[\\]-~]{0,12}".prop_map(|d| format!("\"{d}\" ")),
        "[a-z]{1,4}".prop_map(|d| format!("\"{d} \\\"q\\\" \\\\\" ")),
    ]
}

#[derive(Debug, Clone)]
struct Spec {
    request: Option<(String, String)>,
    status: (u16, String),
    vias: Vec<(String, String, String, String, bool)>,
    from: (String, String, String),
    to: (String, String, Option<String>),
    call_id: String,
    cseq: u32,
    contacts: Vec<(String, String, Option<u32>)>,
    expires: Option<u32>,
    extra: Vec<(String, String)>,
    compact: bool,
    fold: bool,
    body: Vec<u8>,
    auth: Option<(String, String, String)>,
    dialog: Dialog,
}

/// Route URIs, Supported tokens, Session-Expires (delta, refresher=uac), Max-Forwards.
type Dialog = (Vec<String>, Vec<String>, Option<(u32, bool)>, Option<u8>);

fn spec() -> impl Strategy<Value = Spec> {
    let start = (
        proptest::option::of((
            prop_oneof![
                Just("INVITE".to_owned()),
                Just("REGISTER".to_owned()),
                "[A-Z]{3,10}"
            ],
            uri(),
        )),
        (100u16..700, "[a-zA-Z0-9 ]{0,20}"),
    );
    let via = (
        prop_oneof![Just("UDP"), Just("TCP"), Just("TLS"), Just("WS")].prop_map(str::to_owned),
        host(),
        port(),
        "[a-zA-Z0-9]{1,16}",
        any::<bool>(),
    );
    let heads = (
        proptest::collection::vec(via, 1..4),
        (display(), uri(), "[a-z0-9]{1,10}"),
        (display(), uri(), proptest::option::of("[a-z0-9]{1,10}")),
        "[a-zA-Z0-9.!%*_+`'~()<>:\\\\\"/\\[\\]?{}@-]{1,30}",
        0u32..(1 << 31),
    );
    let rest = (
        proptest::collection::vec(
            (display(), uri(), proptest::option::of(0u32..100_000)),
            0..3,
        ),
        proptest::option::of(any::<u32>()),
        proptest::collection::vec(("X-[A-Za-z0-9-]{1,12}", "[ -~]{0,30}"), 0..3),
        any::<bool>(),
        any::<bool>(),
        proptest::collection::vec(any::<u8>(), 0..64),
        proptest::option::of(("[a-z]{1,8}", "[a-z.]{1,12}", "[0-9a-f]{8,32}")),
    );
    let dialog = (
        proptest::collection::vec(uri(), 0..3),
        proptest::collection::vec(token(), 0..4),
        proptest::option::of((90u32..100_000, any::<bool>())),
        proptest::option::of(any::<u8>()),
    );
    (start, heads, rest, dialog).prop_map(
        |(
            (request, status),
            (vias, from, to, call_id, cseq),
            (contacts, expires, extra, compact, fold, body, auth),
            dialog,
        )| Spec {
            dialog,
            request,
            status,
            vias,
            from,
            to,
            call_id,
            cseq,
            contacts,
            expires,
            extra,
            compact,
            fold,
            body,
            auth,
        },
    )
}

fn render(s: &Spec) -> Vec<u8> {
    let n = |full: &'static str, compact: &'static str| if s.compact { compact } else { full };
    let mut out = match &s.request {
        Some((m, u)) => format!("{m} {u} SIP/2.0\r\n"),
        None => format!("SIP/2.0 {} {}\r\n", s.status.0, s.status.1),
    };
    for (t, h, p, b, rport) in &s.vias {
        let rport = if *rport { ";rport" } else { "" };
        out += &format!(
            "{}: SIP/2.0/{t} {h}{p};branch=z9hG4bK{b}{rport}\r\n",
            n("Via", "v")
        );
    }
    let sep = if s.fold { "\r\n  " } else { " " };
    out += &format!(
        "{}:{sep}{}<{}>;tag={}\r\n",
        n("From", "f"),
        s.from.0,
        s.from.1,
        s.from.2
    );
    let to_tag =
        s.to.2
            .as_ref()
            .map(|t| format!(";tag={t}"))
            .unwrap_or_default();
    out += &format!("{}: {}<{}>{to_tag}\r\n", n("To", "t"), s.to.0, s.to.1);
    out += &format!("{}: {}\r\n", n("Call-ID", "i"), s.call_id);
    let method = s.request.as_ref().map_or("INVITE", |r| r.0.as_str());
    out += &format!("CSeq:{sep}{} {method}\r\n", s.cseq);
    if !s.contacts.is_empty() {
        let list: Vec<String> = s
            .contacts
            .iter()
            .map(|(d, u, e)| {
                format!(
                    "{d}<{u}>{}",
                    e.map(|e| format!(";expires={e}")).unwrap_or_default()
                )
            })
            .collect();
        out += &format!("{}: {}\r\n", n("Contact", "m"), list.join(", "));
    }
    let (routes, supported, se, mf) = &s.dialog;
    if !routes.is_empty() {
        let list: Vec<String> = routes.iter().map(|r| format!("<{r};lr>")).collect();
        out += &format!("Route: {}\r\n", list.join(", "));
    }
    if !supported.is_empty() {
        out += &format!("{}: {}\r\n", n("Supported", "k"), supported.join(", "));
    }
    if let Some((delta, uac)) = se {
        let refresher = if *uac { ";refresher=uac" } else { "" };
        out += &format!("{}: {delta}{refresher}\r\n", n("Session-Expires", "x"));
    }
    if let Some(mf) = mf {
        out += &format!("Max-Forwards: {mf}\r\n");
    }
    if let Some(e) = s.expires {
        out += &format!("Expires: {e}\r\n");
    }
    if let Some((u, r, nonce)) = &s.auth {
        out += &format!(
            "Authorization: Digest username=\"{u}\", realm=\"{r}\", nonce=\"{nonce}\", uri=\"sip:{r}\", response=\"{nonce}\", algorithm=MD5\r\n"
        );
    }
    for (name, value) in &s.extra {
        out += &format!("{name}: {}\r\n", value.trim());
    }
    out += &format!("{}: {}\r\n\r\n", n("Content-Length", "l"), s.body.len());
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&s.body);
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn parse_print_parse_round_trip(s in spec()) {
        let bytes = render(&s);
        let m = Message::parse(&bytes).map_err(|e| TestCaseError::fail(format!("{e}: {}", String::from_utf8_lossy(&bytes))))?;
        let vias = m.vias().map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(vias.len(), s.vias.len());
        prop_assert_eq!(vias[0].branch().map(|b| b.trim_start_matches("z9hG4bK")), Some(s.vias[0].3.as_str()));
        prop_assert_eq!(m.from().map_err(|e| TestCaseError::fail(e.to_string()))?.tag(), Some(s.from.2.as_str()));
        prop_assert_eq!(m.to().map_err(|e| TestCaseError::fail(e.to_string()))?.tag(), s.to.2.as_deref());
        prop_assert_eq!(m.call_id().ok(), Some(s.call_id.as_str()));
        prop_assert_eq!(m.cseq().map(|c| c.seq).ok(), Some(s.cseq));
        prop_assert_eq!(m.body(), &s.body[..]);
        prop_assert_eq!(m.expires().ok(), Some(s.expires));
        let (routes, supported, se, mf) = &s.dialog;
        let parsed_routes = m.routes().map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(parsed_routes.len(), routes.len());
        prop_assert!(parsed_routes.iter().all(|r| r.uri.lr()));
        prop_assert_eq!(m.supported().ok(), Some(supported.iter().map(String::as_str).collect::<Vec<_>>()));
        let parsed_se = m.session_expires().map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(parsed_se.map(|x| (x.delta, x.refresher() == Some("uac"))), *se);
        prop_assert_eq!(m.max_forwards().ok(), Some(mf.map(u32::from)));
        match m.contacts().map_err(|e| TestCaseError::fail(e.to_string()))? {
            Contacts::None => prop_assert!(s.contacts.is_empty()),
            Contacts::List(l) => {
                prop_assert_eq!(l.len(), s.contacts.len());
                for (c, (_, _, e)) in l.iter().zip(&s.contacts) {
                    prop_assert_eq!(c.expires().map(Result::ok), e.map(Some));
                }
            }
            Contacts::Wildcard => prop_assert!(false, "unexpected *"),
        }
        if let Some((u, _, nonce)) = &s.auth {
            let a = m.authorization().map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(a[0].username().map(|c| c.into_owned()), Some(u.clone()));
            prop_assert_eq!(a[0].nonce().map(|c| c.into_owned()), Some(nonce.clone()));
        }
        let printed = m.encode();
        let again = Message::parse(&printed).map_err(|e| TestCaseError::fail(format!("reprint: {e}")))?;
        prop_assert_eq!(&m, &again);
        prop_assert_eq!(&again.encode(), &printed);
        let stream = Message::parse_with(&printed, &ParseLimits::DEFAULT, Framing::Stream).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&m, &stream);
        prop_assert_eq!(next_message(&printed, 1 << 20), Frame::Complete { skip: 0, len: printed.len() });
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        if let Err(e) = Message::parse(&bytes) {
            let _ = bad_request(&bytes, &e);
        }
        let _ = next_message(&bytes, 4096);
    }

    #[test]
    fn mutated_messages_never_panic(s in spec(), edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let mut bytes = render(&s);
        for (i, b) in edits {
            let i = i.index(bytes.len());
            bytes[i] = b;
        }
        match Message::parse(&bytes) {
            Ok(m) => {
                let printed = m.encode();
                let again = Message::parse(&printed).map_err(|e| TestCaseError::fail(format!("reprint: {e}")))?;
                prop_assert_eq!(m, again);
            }
            Err(e) => {
                let _ = bad_request(&bytes, &e);
            }
        }
    }
}
