//! An independent softphone (baresip, Debian package) registers to Switchboard with digest auth.

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{Server, TempDir, config_with};

fn free_udp_port() -> u16 {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    s.local_addr().expect("addr").port()
}

#[test]
fn baresip_registers_with_digest_auth() {
    let server = Server::start(&config_with(""));
    let dir = TempDir::new("baresip");
    let port = free_udp_port();
    std::fs::write(
        dir.path().join("config"),
        format!(
            "poll_method\tepoll\nnet_interface\t127.0.0.1\nsip_listen\t127.0.0.1:{port}\nmodule_path\t/usr/lib/baresip/modules\n\
             module\tg711.so\nmodule_app\taccount.so\nmodule_app\tmenu.so\n"
        ),
    )
    .expect("config");
    std::fs::write(
        dir.path().join("accounts"),
        format!(
            "<sip:1001@{sip};transport=udp>;auth_pass=1001pass;regint=120\n",
            sip = server.sip
        ),
    )
    .expect("accounts");
    let mut phone = Command::new("baresip")
        .arg("-f")
        .arg(dir.path())
        .args(["-t", "30", "-s"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start baresip (apt-get install baresip)");
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut registered = false;
    while Instant::now() < deadline {
        let (_, body) = server.http_get("/health");
        if body.contains("\"registrations\":1") {
            registered = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = phone.kill();
    let out = phone.wait_with_output().expect("baresip output");
    assert!(
        registered,
        "baresip did not register within 15 s\n--- baresip ---\n{}{}\n--- server ---\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        server.log()
    );
}
