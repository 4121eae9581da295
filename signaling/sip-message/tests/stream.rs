//! RFC 3261 §18.3 stream framing and RFC 5626 §4.4.1 keepalives, as a TCP transport uses them: cut frames
//! with `next_message`, parse each with `Framing::Stream`.

use switchboard_sip::framing::{Frame, next_message};
use switchboard_sip::{Framing, Message, Method, ParseLimits};

const OPTIONS: &str = "OPTIONS sip:a@example.com SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\n\
From: <sip:b@example.com>;tag=1\r\nTo: <sip:a@example.com>\r\nCall-ID: s1\r\nCSeq: 1 OPTIONS\r\nl: 0\r\n\r\n";
const MESSAGE: &str = "MESSAGE sip:a@example.com SIP/2.0\r\nv: SIP/2.0/TCP h;branch=z9hG4bK2\r\n\
f: <sip:b@example.com>;tag=1\r\nt: <sip:a@example.com>\r\ni: s2\r\nCSeq: 2 MESSAGE\r\nc: text/plain\r\n\
Content-Length: 5\r\n\r\nhello";

/// Feeds `stream` in chunks of `chunk` bytes and returns the methods parsed and the pings seen.
fn drive(stream: &[u8], chunk: usize) -> (Vec<String>, usize) {
    let mut buf = Vec::new();
    let (mut methods, mut pings) = (Vec::new(), 0);
    for piece in stream.chunks(chunk) {
        buf.extend_from_slice(piece);
        loop {
            match next_message(&buf, 65_536) {
                Frame::Complete { skip, len } => {
                    let frame: Vec<u8> = buf.drain(..skip + len).skip(skip).collect();
                    let m = Message::parse_with(&frame, &ParseLimits::DEFAULT, Framing::Stream)
                        .expect("framed message parses");
                    methods.push(
                        m.method()
                            .map(Method::as_str)
                            .unwrap_or_default()
                            .to_owned(),
                    );
                }
                Frame::Keepalive { len, ping } => {
                    buf.drain(..len);
                    pings += usize::from(ping);
                }
                Frame::Incomplete => break,
                Frame::Invalid(e) => panic!("unframeable: {e}"),
            }
        }
    }
    assert!(
        buf.is_empty(),
        "left over: {:?}",
        String::from_utf8_lossy(&buf)
    );
    (methods, pings)
}

#[test]
fn rfc3261_s18_3_messages_and_rfc5626_pings_in_any_chunking() {
    let stream = format!("\r\n\r\n{OPTIONS}{MESSAGE}\r\n\r\n{OPTIONS}");
    for chunk in [1, 2, 3, 7, 64, 4096] {
        let (methods, pings) = drive(stream.as_bytes(), chunk);
        assert_eq!(methods, ["OPTIONS", "MESSAGE", "OPTIONS"], "chunk {chunk}");
        // A ping split across reads arrives as two single CRLFs; whole pings are reported.
        if chunk >= 4 {
            assert_eq!(pings, 2, "chunk {chunk}");
        }
    }
}

#[test]
fn rfc3261_s18_3_stream_without_content_length_is_unframeable() {
    let no_cl = OPTIONS.replace("l: 0\r\n", "");
    assert!(
        matches!(next_message(no_cl.as_bytes(), 65_536), Frame::Invalid(e) if e.header == Some("Content-Length"))
    );
}
