//! The Trunks page: a probed trunk where nothing answers is down; a sipp OPTIONS responder brings
//! it up at its next probe; when the responder is gone it goes down again after two unanswered
//! probes. A second trunk registers to a sipp registrar and shows the registration.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{Server, SippUas, free_port};
use crate::webdriver::Browser;

/// The carriers behind the test server's two trunks: `carrier-a`, probed with OPTIONS every
/// second at a loopback port where nothing answers until the step starts a responder, and
/// `carrier-b`, unprobed, where Switchboard registers (a sipp registrar, started before the server).
pub(super) struct Carriers {
    probed: u16,
    registrar_port: u16,
    registrar: SippUas,
}

impl Carriers {
    /// Picks the ports and starts the registrar (it must listen before the server registers).
    pub(super) fn start() -> Carriers {
        let registrar_port = free_port();
        let registrar = SippUas::start("trunk_uas_register.xml", registrar_port, &[]);
        Carriers {
            probed: free_port(),
            registrar_port,
            registrar,
        }
    }

    /// The `[[trunks]]` of the server's configuration.
    pub(super) fn config(&self) -> String {
        format!(
            "[[trunks]]\nname = \"carrier-a\"\naddress = \"127.0.0.1:{}\"\n\
             keepalive_interval_s = 1\nkeepalive_failures = 2\n\
             [[trunks]]\nname = \"carrier-b\"\naddress = \"127.0.0.1:{}\"\n\
             domain = \"carrier.example\"\nusername = \"acct-17\"\npassword = \"s3cret\"\n\
             register = true\nregister_expires_s = 60\n",
            self.probed, self.registrar_port
        )
    }
}

const ROW_A: &str = "#trunks-table tr[data-trunk='carrier-a']";
const ROW_B: &str = "#trunks-table tr[data-trunk='carrier-b']";

fn cell(b: &Browser, row: &str, field: &str) -> String {
    b.text(&format!("{row} td[data-field={field}]"))
}

/// `carrier-a`'s entry in `GET /api/v1/trunks`.
fn api_trunk(server: &Server, name: &str) -> Value {
    let all = super::api(server, "/trunks");
    all.as_array()
        .and_then(|a| a.iter().find(|t| t["name"] == name))
        .cloned()
        .unwrap_or_else(|| panic!("no trunk {name}: {all}"))
}

fn wait_status(b: &Browser, row: &str, status: &str) {
    b.wait_for(
        &format!("{row} {status}"),
        "return document.querySelector(arguments[0]) !== null",
        json!([format!("{row}[data-status={status}]")]),
    );
}

fn failures_in_row(b: &Browser) -> u64 {
    let text = cell(b, ROW_A, "failures_in_row");
    text.parse()
        .unwrap_or_else(|_| panic!("failures in a row: {text:?}"))
}

pub(super) fn trunks_go_down_and_up(
    b: &Browser,
    server: &Server,
    carriers: Carriers,
    shots: &Path,
) {
    super::open(b, "trunks");
    // Nothing has ever answered carrier-a's probes: down after two unanswered ones.
    wait_status(b, ROW_A, "down");
    assert_eq!(b.text(&format!("{ROW_A} th[data-field=name]")), "carrier-a");
    // The address is shown as the API gives it (`–` while `GET /trunks` does not say).
    let address = api_trunk(server, "carrier-a")["address"]
        .as_str()
        .unwrap_or("–")
        .to_owned();
    assert!(
        cell(b, ROW_A, "address").starts_with(&address),
        "{} vs the API's {address}",
        cell(b, ROW_A, "address")
    );
    assert!(failures_in_row(b) >= 2);
    assert_eq!(cell(b, ROW_A, "last_answer"), "–", "nothing ever answered");
    b.wait_for(
        "the summary",
        "return document.getElementById('trunks-summary').textContent === '2 trunks, 1 down.'",
        json!([]),
    );

    // carrier-b is not probed and registered with the sipp registrar (challenged, refreshed).
    b.wait_for(
        "carrier-b registered",
        "return document.querySelector(arguments[0]) !== null",
        json!([format!(
            "{ROW_B}[data-status=unprobed][data-registration=registered]"
        )]),
    );
    let reg = cell(b, ROW_B, "registration");
    assert!(
        reg.starts_with("registered") && reg.contains("expires in"),
        "{reg}"
    );
    assert_eq!(cell(b, ROW_A, "registration"), "not registering");
    let registrar = carriers.registrar.finish(Duration::from_secs(15));
    assert!(
        registrar.success,
        "carrier-b's registrar:\n{}\n{}",
        registrar.output,
        server.log()
    );
    b.screenshot(&shots.join("trunks-down.png"));

    // A carrier answers: up at its next probe, with the answer's status and round trip shown.
    let responder = SippUas::start("trunk_uas_options.xml", carriers.probed, &["-m", "100"]);
    wait_status(b, ROW_A, "up");
    let answer = cell(b, ROW_A, "last_answer");
    assert!(
        answer.starts_with("200 in ") && answer.ends_with(" ms"),
        "{answer}"
    );
    assert_eq!(failures_in_row(b), 0);
    assert!(cell(b, ROW_A, "status").starts_with("up"));
    b.screenshot(&shots.join("trunks-up.png"));

    // It stops answering (its sipp is killed): down again after two unanswered probes in a row.
    drop(responder);
    wait_status(b, ROW_A, "down");
    assert!(failures_in_row(b) >= 2);
    assert!(cell(b, ROW_A, "status").starts_with("down"));
    assert!(
        cell(b, ROW_A, "last_answer").starts_with("200"),
        "the last answered probe"
    );
    let api = api_trunk(server, "carrier-a");
    assert_eq!(api["status"], "down", "{api}");
    b.screenshot(&shots.join("trunks.png"));
}
