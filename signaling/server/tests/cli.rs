//! The binary's command line: --check-config, flags overriding the file, graceful shutdown.

mod support;

use std::process::Command;

use support::{Server, TempDir, config_with, repo_root};

fn check_config(text: &str) -> (bool, String) {
    let dir = TempDir::new("cfg");
    let path = dir.path().join("c.toml");
    std::fs::write(&path, text).expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_switchboard-signaling"))
        .arg("--config")
        .arg(&path)
        .arg("--check-config")
        .output()
        .expect("run");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

#[test]
fn check_config_accepts_the_example_config() {
    let out = Command::new(env!("CARGO_BIN_EXE_switchboard-signaling"))
        .arg("--config")
        .arg(repo_root().join("deploy/switchboard.toml"))
        .arg("--check-config")
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn check_config_lists_every_error_with_its_key_and_fails() {
    let (ok, text) = check_config(
        "[sip]\nlisten = [\"x\"]\n[registrar]\nmin_expires = 0\n[[users]]\nusername = \"a\"\n",
    );
    assert!(!ok, "must exit non-zero");
    for key in [
        "sip.listen[0]",
        "registrar.min_expires",
        "users[0].password",
    ] {
        assert!(text.contains(key), "missing {key} in:\n{text}");
    }
}

#[test]
fn sip_listen_flag_overrides_file_and_sigterm_stops_cleanly() {
    let server = Server::start_with_args(&config_with(""), &["--sip-listen", "127.0.0.1:0"]);
    let (code, body) = server.http_get("/health");
    assert_eq!(code, 200);
    assert!(body.contains("\"status\":\"ok\""), "{body}");
    let status = server.terminate();
    assert!(
        status.success(),
        "graceful shutdown must exit 0, got {status}"
    );
}
