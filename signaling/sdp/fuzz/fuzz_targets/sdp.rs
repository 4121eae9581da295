//! Parse → print → parse: whatever parses must print to text that parses to an equal description, and
//! printing that again must give the same text. Rejections must not panic, and neither may the helpers.

#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_sdp::SessionDescription;

fuzz_target!(|data: &[u8]| {
    let Ok(sd) = SessionDescription::parse_bytes(data) else {
        return;
    };
    let printed = sd.to_string();
    let again = match SessionDescription::parse(&printed) {
        Ok(again) => again,
        Err(e) => panic!("printed SDP does not parse: {e}\n{printed}"),
    };
    assert_eq!(sd, again, "parse → print → parse changed the description");
    assert_eq!(again.to_string(), printed, "printing is not stable");
    // The anchoring helpers must not panic on anything that parsed.
    let mut anchored = again;
    for i in 0..anchored.media.len() {
        let _ = (anchored.media_address(i), anchored.media_direction(i));
        let _ = anchored.media[i].telephone_event_payload_type(Some(8000));
        anchored.set_media_port(i, 40_000);
    }
    anchored.set_connection_address(std::net::Ipv4Addr::LOCALHOST.into());
    anchored.bump_version();
    let text = anchored.to_string();
    assert!(
        SessionDescription::parse(&text).is_ok(),
        "anchored SDP does not parse:\n{text}"
    );
});
