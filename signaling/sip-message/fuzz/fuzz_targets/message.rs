//! Parse → print → parse: whatever parses must print to bytes that parse to an equal message, and printing
//! that again must give the same bytes. Rejections must not panic when answered with `400`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_sip::framing::next_message;
use switchboard_sip::{Framing, Message, ParseLimits, bad_request};

fuzz_target!(|data: &[u8]| {
    let _ = next_message(data, 65_536);
    let _ = Message::parse_with(data, &ParseLimits::DEFAULT, Framing::Stream);
    match Message::parse(data) {
        Ok(m) => {
            // Typed access on anything that parsed must not panic either.
            let _ = (m.vias(), m.contacts(), m.authorization(), m.routes(), m.content_type(), m.multipart());
            let _ = (m.request_uri(), m.session_expires(), m.rack(), m.replaces(), m.reasons());
            let printed = m.encode();
            let again = match Message::parse(&printed) {
                Ok(again) => again,
                Err(e) => panic!("printed message does not parse: {e}"),
            };
            assert_eq!(m, again, "parse → print → parse changed the message");
            assert_eq!(again.encode(), printed, "printing is not stable");
        }
        Err(e) => {
            let _ = bad_request(data, &e).map(|r| r.encode());
        }
    }
});
