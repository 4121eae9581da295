use std::net::IpAddr;

use super::*;

const OFFER: &str = "v=0\r\n\
o=alice 2890844526 2890844526 IN IP4 198.51.100.1\r\n\
s=-\r\n\
c=IN IP4 198.51.100.1\r\n\
t=0 0\r\n\
a=sendrecv\r\n\
m=audio 49170 RTP/SAVP 0 8 101\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-16\r\n\
a=ptime:20\r\n\
a=rtcp:49171 IN IP4 198.51.100.1\r\n\
a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:32 UNENCRYPTED_SRTCP\r\n\
a=x-vendor:keep me\r\n\
m=video 0 RTP/AVP 96\r\n\
a=rtpmap:96 H264/90000\r\n\
a=inactive\r\n";

fn ip(s: &str) -> IpAddr {
    s.parse().expect("ip")
}

fn parse(s: &str) -> SessionDescription {
    SessionDescription::parse(s).expect("parses")
}

fn round_trip(sd: &SessionDescription) {
    let printed = sd.to_string();
    let again = SessionDescription::parse(&printed).expect("printed SDP parses");
    assert_eq!(&again, sd);
    assert_eq!(again.to_string(), printed);
}

#[test]
fn rfc8866_offer_is_typed() {
    let sd = parse(OFFER);
    assert_eq!(sd.origin.session_version, 2_890_844_526);
    assert_eq!(sd.origin.address, "198.51.100.1");
    assert_eq!(
        sd.connection.as_ref().and_then(Connection::ip),
        Some(ip("198.51.100.1"))
    );
    assert_eq!(
        sd.timings,
        vec![Timing {
            start: 0,
            stop: 0,
            repeats: vec![]
        }]
    );
    assert_eq!(sd.media.len(), 2);
    let audio = &sd.media[0];
    assert_eq!(
        (audio.media.as_str(), audio.port, audio.proto.as_str()),
        ("audio", 49170, "RTP/SAVP")
    );
    assert_eq!(audio.payload_types(), vec![0, 8, 101]);
    assert_eq!(audio.rtpmap(8).map(|r| r.encoding.as_str()), Some("PCMA"));
    assert_eq!(audio.fmtp("101").map(|f| f.params.as_str()), Some("0-16"));
    assert!(audio.attributes.contains(&Attribute::Ptime(20)));
    assert_eq!(audio.telephone_event_payload_type(Some(8000)), Some(101));
    let crypto: Vec<&Crypto> = audio.cryptos().collect();
    assert_eq!(crypto.len(), 1);
    assert_eq!(crypto[0].tag, 1);
    assert_eq!(crypto[0].suite, "AES_CM_128_HMAC_SHA1_80");
    assert_eq!(crypto[0].key_params[0].method, "inline");
    assert_eq!(
        crypto[0].key_params[0].key_salt(),
        "PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR"
    );
    assert_eq!(
        crypto[0].session_params,
        vec!["UNENCRYPTED_SRTCP".to_owned()]
    );
    assert!(audio.attributes.contains(&Attribute::Other {
        name: "x-vendor".into(),
        value: Some("keep me".into())
    }));
    assert_eq!(
        sd.media_direction(0),
        Direction::SendRecv,
        "session-level attribute applies"
    );
    assert_eq!(sd.media_direction(1), Direction::Inactive);
    assert_eq!(sd.media_address(1), Some(ip("198.51.100.1")));
    round_trip(&sd);
}

#[test]
fn lf_and_crlf_endings_parse_alike_and_print_as_crlf() {
    let lf = OFFER.replace("\r\n", "\n");
    assert_eq!(parse(&lf), parse(OFFER));
    assert_eq!(parse(&lf).to_string(), OFFER);
    // No final newline, blank lines and trailing blanks on structured lines are tolerated.
    let sloppy =
        "v=0\n\no=- 1 2 IN IP4 192.0.2.1 \ns=x\nc=IN IP4 192.0.2.1\nt=0 0\nm=audio 4000 RTP/AVP 0";
    let sd = parse(sloppy);
    assert_eq!(sd.media[0].port, 4000);
    round_trip(&sd);
}

#[test]
fn ipv6_connection_and_unknown_lines_are_kept() {
    let text = "v=0\r\no=- 1 1 IN IP6 2001:db8::1\r\ns= \r\ni=info\r\nu=http://example.com/\r\ne=a@example.com\r\n\
c=IN IP6 2001:db8::2\r\nb=AS:64\r\nt=0 0\r\nr=7d 1h 0 25h\r\nz=2882844526 -1h\r\nk=prompt\r\nY=future\r\n\
m=audio 5004/2 RTP/AVP 0\r\ni=voice\r\nc=IN IP6 2001:db8::3\r\nb=TIAS:64000\r\nk=clear:x\r\na=rtcp-mux\r\n";
    let sd = parse(text);
    assert_eq!(sd.session_name, " ");
    assert_eq!(
        sd.connection.as_ref().and_then(Connection::ip),
        Some(ip("2001:db8::2"))
    );
    assert_eq!(
        sd.media_address(0),
        Some(ip("2001:db8::3")),
        "media c= wins"
    );
    assert_eq!(sd.timings[0].repeats, vec!["7d 1h 0 25h".to_owned()]);
    assert_eq!(sd.descriptive.len(), 2);
    assert_eq!(sd.other.iter().map(|l| l.kind).collect::<String>(), "zkY");
    assert_eq!(sd.media[0].port_count, Some(2));
    assert_eq!(
        sd.media[0].other,
        vec![Line {
            kind: 'k',
            value: "clear:x".into()
        }]
    );
    assert_eq!(
        sd.to_string(),
        text,
        "canonical input prints back byte for byte"
    );
    round_trip(&sd);
}

#[test]
fn errors_name_the_line_and_reason() {
    let cases: &[(&str, usize, &str)] = &[
        ("", 0, "expected v="),
        ("o=- 1 1 IN IP4 192.0.2.1\r\n", 1, "expected v="),
        ("v=1\r\n", 1, "v= must be 0"),
        ("v=0\r\no=- 1 IN IP4 192.0.2.1\r\n", 2, "o= needs"),
        ("v=0\r\no=- x 1 IN IP4 192.0.2.1\r\n", 2, "sess-id"),
        ("v=0\r\no=- 1 1 IN IP4 h\r\n", 3, "expected s="),
        (
            "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nc=IN IP4 300.1.1.1\r\n",
            4,
            "not an IP4 address",
        ),
        (
            "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nr=1 2 3\r\n",
            4,
            "r= without",
        ),
        ("v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0\r\n", 4, "t= needs"),
        (
            "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nm=audio 70000 RTP/AVP 0\r\n",
            4,
            "port",
        ),
        (
            "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nm=audio 1 RTP/AVP 0\r\na=rtpmap:200 X/8000\r\n",
            5,
            "a=rtpmap",
        ),
        (
            "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nm=audio 1 RTP/AVP 0\r\na=ptime:abc\r\n",
            5,
            "a=ptime",
        ),
        (
            "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nm=audio 1 RTP/AVP 0\r\na=crypto:1 S\r\n",
            5,
            "a=crypto",
        ),
        (
            "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nm=audio 1 RTP/AVP 0\r\nt=0 0\r\n",
            5,
            "not allowed in a media",
        ),
        (
            "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nno equals\r\n",
            4,
            "<type>=<value>",
        ),
        (
            "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\ni=a\r\ni=b\r\n",
            5,
            "second i=",
        ),
    ];
    for (text, line, reason) in cases {
        let e = SessionDescription::parse(text).expect_err(text);
        assert_eq!(e.line, *line, "{text:?}: {e}");
        assert!(e.reason.contains(reason), "{text:?}: {e}");
    }
    let e = SessionDescription::parse_bytes(b"v=0\r\no=- 1 1 IN IP4 h\r\ns=\xff\r\n")
        .expect_err("utf-8");
    assert_eq!(
        (e.line, e.to_string().as_str()),
        (3, "SDP line 3: not UTF-8")
    );
}

#[test]
fn size_limits_are_enforced() {
    let big = format!("v=0\r\no=- 1 1 IN IP4 h\r\ns={}\r\n", "x".repeat(70_000));
    assert_eq!(
        SessionDescription::parse(&big).expect_err("too big").line,
        0
    );
    let many_media = format!(
        "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\n{}",
        "m=audio 1 RTP/AVP 0\r\n".repeat(65)
    );
    assert!(
        SessionDescription::parse(&many_media)
            .expect_err("media")
            .reason
            .contains("media sections")
    );
    let limits = SdpLimits {
        max_lines: 4,
        ..SdpLimits::DEFAULT
    };
    let e = SessionDescription::parse_with(OFFER, &limits).expect_err("lines");
    assert_eq!(e.line, 5);
}

#[test]
fn anchoring_rewrites_addresses_ports_and_rtcp() {
    let mut sd = parse(OFFER);
    sd.media[0]
        .connections
        .push(Connection::from_ip(ip("198.51.100.9")));
    sd.set_connection_address(ip("203.0.113.5"));
    sd.set_origin_address(ip("203.0.113.5"));
    sd.bump_version();
    assert!(sd.set_media_port(0, 30000));
    assert!(!sd.set_media_port(5, 1));
    assert_eq!(sd.media_address(0), Some(ip("203.0.113.5")));
    assert!(sd.media[0].connections.is_empty());
    assert_eq!(sd.origin.session_version, 2_890_844_527);
    let rtcp = sd.media[0].attributes.iter().find_map(|a| match a {
        Attribute::Rtcp(r) => Some(r.clone()),
        _ => None,
    });
    assert_eq!(
        rtcp,
        Some(Rtcp {
            port: 30001,
            address: Some(("IN".into(), "IP4".into(), "203.0.113.5".into()))
        })
    );
    let text = sd.to_string();
    assert!(
        text.contains("c=IN IP4 203.0.113.5\r\n")
            && text.contains("m=audio 30000 RTP/SAVP 0 8 101\r\n")
    );
    // IPv6 relay address switches the address type.
    sd.set_connection_address(ip("2001:db8::7"));
    assert!(sd.to_string().contains("c=IN IP6 2001:db8::7\r\n"));
    round_trip(&sd);
}

#[test]
fn rtcp_mux_keeps_rtcp_on_the_media_port_and_direction_can_be_set() {
    let mut sd = parse(
        "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\nm=audio 1000 RTP/AVP 0\r\na=rtcp:1000\r\na=rtcp-mux\r\na=sendonly\r\n",
    );
    sd.media[0].set_port(2000);
    assert!(sd.media[0].attributes.contains(&Attribute::Rtcp(Rtcp {
        port: 2000,
        address: None
    })));
    assert_eq!(sd.media[0].direction(), Some(Direction::SendOnly));
    assert_eq!(Direction::SendOnly.reversed(), Direction::RecvOnly);
    sd.media[0].set_direction(Direction::RecvOnly);
    assert_eq!(sd.media_direction(0), Direction::RecvOnly);
    assert_eq!(
        sd.media[0]
            .attributes
            .iter()
            .filter(|a| matches!(a, Attribute::Direction(_)))
            .count(),
        1
    );
}

#[test]
fn rfc4733_telephone_event_prefers_clock_rate_and_needs_the_format_listed() {
    let sd = parse(
        "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\nm=audio 1 RTP/AVP 111 110 101\r\n\
a=rtpmap:111 opus/48000/2\r\na=rtpmap:110 telephone-event/48000\r\na=rtpmap:101 TELEPHONE-EVENT/8000\r\n\
a=rtpmap:100 telephone-event/16000\r\n",
    );
    let m = &sd.media[0];
    assert_eq!(m.telephone_event_payload_type(Some(8000)), Some(101));
    assert_eq!(m.telephone_event_payload_type(Some(48000)), Some(110));
    assert_eq!(m.telephone_event_payload_type(None), Some(110));
    assert_eq!(
        m.telephone_event_payload_type(Some(16000)),
        Some(110),
        "100 is not in the m= line"
    );
    assert_eq!(m.rtpmap(111).and_then(|r| r.params.as_deref()), Some("2"));
}

#[test]
fn attribute_without_known_shape_stays_other() {
    for text in [
        "sendrecv:odd",
        "ptime",
        "rtcp-mux:1",
        "candidate:1 1 UDP 2 192.0.2.1 5000 typ host",
        "ice-lite",
    ] {
        let a = Attribute::parse(text).expect(text);
        assert!(matches!(a, Attribute::Other { .. }), "{text}");
        assert_eq!(a.to_string(), text);
    }
    assert!(Attribute::parse("bad name:x").is_err());
}

mod props {
    use super::*;
    use proptest::prelude::*;

    fn token() -> impl Strategy<Value = String> {
        "[A-Za-z0-9][A-Za-z0-9._+-]{0,8}"
    }

    fn text() -> impl Strategy<Value = String> {
        "[ -~é]{0,12}"
    }

    fn connection() -> impl Strategy<Value = Connection> {
        prop_oneof![
            any::<[u8; 4]>().prop_map(|o| Connection::from_ip(IpAddr::from(o))),
            any::<[u16; 8]>().prop_map(|o| Connection::from_ip(IpAddr::from(o))),
            "[a-z]{1,8}\\.example".prop_map(|h| Connection {
                net_type: "IN".into(),
                addr_type: "IP4".into(),
                address: h
            }),
        ]
    }

    fn attribute() -> impl Strategy<Value = Attribute> {
        prop_oneof![
            (
                0u8..=127,
                token(),
                any::<u32>(),
                proptest::option::of("[0-9]{1,2}")
            )
                .prop_map(|(payload_type, encoding, clock_rate, params)| {
                    Attribute::RtpMap(RtpMap {
                        payload_type,
                        encoding,
                        clock_rate,
                        params,
                    })
                }),
            (token(), "[ -~]{0,20}").prop_map(|(format, params)| Attribute::Fmtp(Fmtp {
                format,
                params: params.trim_end().to_owned()
            })),
            any::<u32>().prop_map(Attribute::Ptime),
            prop_oneof![
                Just(Direction::SendRecv),
                Just(Direction::SendOnly),
                Just(Direction::RecvOnly),
                Just(Direction::Inactive)
            ]
            .prop_map(Attribute::Direction),
            (any::<u16>(), proptest::option::of(connection())).prop_map(|(port, c)| {
                Attribute::Rtcp(Rtcp {
                    port,
                    address: c.map(|c| (c.net_type, c.addr_type, c.address)),
                })
            }),
            Just(Attribute::RtcpMux),
            (
                0u32..1_000_000_000,
                token(),
                proptest::collection::vec("[A-Za-z0-9+/=|^:]{1,20}", 1..3),
                proptest::collection::vec(token(), 0..2)
            )
                .prop_map(|(tag, suite, keys, session_params)| Attribute::Crypto(
                    Crypto {
                        tag,
                        suite,
                        key_params: keys
                            .into_iter()
                            .map(|info| KeyParam {
                                method: "inline".into(),
                                info
                            })
                            .collect(),
                        session_params,
                    }
                )),
            ("x-[a-z]{1,8}", proptest::option::of("[ -~]{0,16}")).prop_map(|(name, value)| {
                Attribute::Other {
                    name,
                    value: value.map(|v| v.trim_end().to_owned()),
                }
            }),
        ]
    }

    fn media() -> impl Strategy<Value = MediaDescription> {
        (
            prop_oneof![Just("audio".to_owned()), Just("video".to_owned()), token()],
            any::<u16>(),
            proptest::option::of(1u16..8),
            prop_oneof![
                Just("RTP/AVP".to_owned()),
                Just("RTP/SAVP".to_owned()),
                token()
            ],
            proptest::collection::vec("[0-9]{1,3}", 0..5),
            proptest::option::of(text()),
            proptest::collection::vec(connection(), 0..2),
            proptest::collection::vec(attribute(), 0..6),
        )
            .prop_map(
                |(
                    media,
                    port,
                    port_count,
                    proto,
                    formats,
                    information,
                    connections,
                    attributes,
                )| MediaDescription {
                    media,
                    port,
                    port_count,
                    proto,
                    formats,
                    information,
                    connections,
                    bandwidths: vec![Bandwidth {
                        bw_type: "AS".into(),
                        bandwidth: u64::from(port),
                    }],
                    other: vec![],
                    attributes,
                },
            )
    }

    fn session() -> impl Strategy<Value = SessionDescription> {
        (
            ("[a-z-]{1,8}", "[0-9]{1,12}", any::<u64>(), connection()),
            "[ -~]{1,12}",
            proptest::option::of(connection()),
            proptest::collection::vec((any::<u32>(), any::<u32>()), 0..2),
            proptest::collection::vec(attribute(), 0..4),
            proptest::collection::vec(media(), 0..4),
        )
            .prop_map(
                |((user, id, version, oc), name, connection, times, attributes, media)| {
                    SessionDescription {
                        origin: Origin {
                            username: user,
                            session_id: id,
                            session_version: version,
                            net_type: oc.net_type,
                            addr_type: oc.addr_type,
                            address: oc.address,
                        },
                        session_name: name,
                        information: None,
                        descriptive: vec![],
                        connection,
                        bandwidths: vec![],
                        timings: times
                            .into_iter()
                            .map(|(a, b)| Timing {
                                start: a.into(),
                                stop: b.into(),
                                repeats: vec![],
                            })
                            .collect(),
                        other: vec![Line {
                            kind: 'k',
                            value: "prompt".into(),
                        }],
                        attributes,
                        media,
                    }
                },
            )
    }

    proptest! {
        #[test]
        fn printed_model_parses_back_equal(sd in session()) {
            let printed = sd.to_string();
            let again = SessionDescription::parse(&printed).map_err(|e| TestCaseError::fail(format!("{e}\n{printed}")))?;
            prop_assert_eq!(&again, &sd);
            prop_assert_eq!(again.to_string(), printed);
        }

        #[test]
        fn any_text_parses_or_errors_and_what_parses_round_trips(
            header in proptest::bool::weighted(0.9),
            lines in proptest::collection::vec(prop_oneof![
                "[vosicbtrmakzX]=[ -~]{0,30}",
                "m=(audio|video) [0-9]{1,5} RTP/AVP [0-9 ]{0,8}",
                "a=(rtpmap|fmtp|ptime|rtcp|crypto|sendonly|rtcp-mux)(:[ -~]{0,20})?",
                "c=IN IP[46] [0-9a-f.:]{1,20}",
                "t=[0-9]{1,3} [0-9]{1,3}",
            ], 0..20)
        ) {
            let head = if header { "v=0\no=- 1 1 IN IP4 h\ns=x\n" } else { "" };
            let text = format!("{head}{}", lines.join("\r\n"));
            if let Ok(sd) = SessionDescription::parse(&text) {
                let printed = sd.to_string();
                let again = SessionDescription::parse(&printed).map_err(|e| TestCaseError::fail(format!("{e}\n{printed}")))?;
                prop_assert_eq!(&again, &sd);
                prop_assert_eq!(again.to_string(), printed);
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = SessionDescription::parse_bytes(&bytes);
        }
    }
}
