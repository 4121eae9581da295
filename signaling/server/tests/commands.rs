//! Operator commands over NATS request-reply against a real `nats-server` (Debian `nats-server`)
//! started on a free loopback port: status, drain, typed errors naming the field (originate's
//! parties too), node filtering.

mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::{Server, TempDir, config_with, free_port};

/// A `nats-server` child on loopback, killed (by its PID) on drop.
struct Nats {
    child: Child,
    url: String,
    _dir: TempDir,
}

impl Nats {
    fn start() -> Nats {
        let dir = TempDir::new("sb-nats");
        let port = free_port();
        let child = Command::new("nats-server")
            .args(["-a", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run nats-server (apt-get install nats-server)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "nats-server did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        Nats {
            child,
            url: format!("nats://127.0.0.1:{port}"),
            _dir: dir,
        }
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends `body` to `subject` until someone answers (the server connects in the background).
async fn request(client: &async_nats::Client, subject: &str, body: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let reply = tokio::time::timeout(
            Duration::from_secs(2),
            client.request(subject.to_owned(), body.to_owned().into()),
        )
        .await;
        if let Ok(Ok(msg)) = reply {
            return serde_json::from_slice(&msg.payload).expect("JSON reply");
        }
        assert!(Instant::now() < deadline, "no reply on {subject} to {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_answer_over_nats_with_results_and_typed_errors() {
    let nats = Nats::start();
    let server = Server::start(&config_with(&format!(
        "[commands]\nnats_url = \"{}\"\n[events]\nnode_id = \"sig-a\"\n",
        nats.url
    )));
    let client = async_nats::connect(nats.url.as_str())
        .await
        .expect("connect");

    let status = request(
        &client,
        "switchboard.commands.sig-a",
        r#"{"command": "status"}"#,
    )
    .await;
    assert_eq!(status["ok"], true, "{status}");
    assert_eq!(status["node"], "sig-a");
    assert_eq!(status["result"]["calls_active"], 0, "{status}");
    let node = status["result"]["media_nodes"][0]["name"]
        .as_str()
        .expect("a media node")
        .to_owned();

    // Broadcast naming this node; then drain that media node and see it in the status.
    let drain = format!(r#"{{"command": "drain", "media_node": "{node}", "node": "sig-a"}}"#);
    let reply = request(&client, "switchboard.commands", &drain).await;
    assert_eq!(reply["ok"], true, "{reply}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let s = request(
            &client,
            "switchboard.commands.sig-a",
            r#"{"command": "status"}"#,
        )
        .await;
        if s["result"]["media_nodes"][0]["status"] == "draining" {
            break;
        }
        assert!(Instant::now() < deadline, "node not draining: {s}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    for (body, code, field) in [
        (r#"{"command": "explode"}"#, "invalid_field", "command"),
        (r#"{"command": "hangup"}"#, "invalid_field", "uuid"),
        (
            r#"{"command": "hangup", "uuid": "sbw0-nothing"}"#,
            "not_found",
            "uuid",
        ),
        (
            r#"{"command": "dtmf", "uuid": "sbw0-x", "leg": "a"}"#,
            "invalid_field",
            "digits",
        ),
        (
            r#"{"command": "drain", "media_node": "ghost"}"#,
            "not_found",
            "media_node",
        ),
        (
            r#"{"command": "reload"}"#,
            "invalid_dialplan",
            "dialplan.file",
        ),
        (
            r#"{"command": "status", "colour": 1}"#,
            "invalid_field",
            "colour",
        ),
        (r#"{"node": "sig-a"}"#, "invalid_field", "command"),
        (
            r#"{"command": "originate", "to": "1002"}"#,
            "invalid_field",
            "from",
        ),
        // 1001 is a user but not registered: the dialplan answers 480.
        (
            r#"{"command": "originate", "from": "1001", "to": "1002"}"#,
            "no_route",
            "from",
        ),
    ] {
        let reply = request(&client, "switchboard.commands.sig-a", body).await;
        assert_eq!(reply["ok"], false, "{body}: {reply}");
        assert_eq!(reply["error"]["code"], code, "{body}: {reply}");
        assert_eq!(reply["error"]["field"], field, "{body}: {reply}");
    }
    // Every node would place a broadcast originate: it must name the node.
    let reply = request(
        &client,
        "switchboard.commands",
        r#"{"command": "originate", "from": "1001", "to": "1002"}"#,
    )
    .await;
    assert_eq!(
        (reply["ok"].as_bool(), reply["error"]["field"].as_str()),
        (Some(false), Some("node")),
        "{reply}"
    );
    drop(server);
}
