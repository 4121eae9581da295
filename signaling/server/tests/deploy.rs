//! The files under `deploy/` match the binaries: every TOML configuration passes `--check-config`
//! of its binary, and every command line in the Dockerfile, the systemd units, the Compose file and
//! the Kubernetes manifests is accepted by the binary it names (those flags plus `--check-config`).
//!
//! The files name paths on a host or in a container; each deployment is staged in a scratch folder:
//! `/etc/switchboard/` is a copy of its config folder (`deploy/compose`, `deploy/k8s/config`,
//! `deploy/systemd`), `/var/lib/switchboard/` an empty state folder, and `/run/secrets/switchboard/`
//! holds the secrets operators make and never commit (`api-token`, `nonce.key`, and openssl-made
//! `ca.crt`, `tls.crt`, `tls.key`). Variables: systemd's `${VAR}` / `$VAR` come from the unit's
//! `EnvironmentFile` (deploy/systemd/*.env), Compose's `${VAR:-default}` take their default,
//! Kubernetes' `$(POD_IP)` is 127.0.0.1. No Docker daemon or cluster runs here: this checks the
//! files against the binaries, not that Docker, Kubernetes or systemd accept them.

mod support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use support::certs::make_certs;
use support::media_node::media_binary;
use support::{TempDir, repo_root};

/// One deployment's files mapped onto a scratch folder.
struct Stage {
    dir: TempDir,
}

impl Stage {
    /// Copies the `.toml` and `.env` files of `deploy/<config_dir>` to `etc/`, with the absolute
    /// paths in them mapped onto the scratch folder, and makes the secrets.
    fn new(config_dir: &str) -> Stage {
        let stage = Stage {
            dir: TempDir::new("sb-deploy"),
        };
        for sub in ["etc", "state", "secrets"] {
            std::fs::create_dir_all(stage.root().join(sub)).expect("mkdir");
        }
        let from = repo_root().join("deploy").join(config_dir);
        for entry in std::fs::read_dir(&from)
            .expect("config dir")
            .map_while(Result::ok)
        {
            let path = entry.path();
            let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
            if path.is_file() && matches!(ext, "toml" | "env") {
                let text = std::fs::read_to_string(&path).expect("read");
                let to = stage.root().join("etc").join(entry.file_name());
                std::fs::write(to, stage.map(&text)).expect("write");
            }
        }
        let secrets = stage.root().join("secrets");
        for name in ["api-token", "nonce.key"] {
            std::fs::write(secrets.join(name), format!("{}\n", "5a".repeat(32))).expect("secret");
        }
        let c = make_certs();
        for (from, to) in [(&c.ca, "ca.crt"), (&c.cert, "tls.crt"), (&c.key, "tls.key")] {
            std::fs::copy(from, secrets.join(to)).expect("copy certificate");
        }
        stage
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    /// `text` with the host/container folders replaced by the staged ones.
    fn map(&self, text: &str) -> String {
        let root = self.root().display();
        text.replace("/etc/switchboard/", &format!("{root}/etc/"))
            .replace("/var/lib/switchboard/", &format!("{root}/state/"))
            .replace("/var/lib/switchboard", &format!("{root}/state"))
            .replace("/run/secrets/switchboard/", &format!("{root}/secrets/"))
    }
}

/// Runs `words` (binary name first) with `--check-config` and asserts it is accepted.
fn assert_accepted(origin: &str, words: &[String]) {
    let (name, flags) = words.split_first().expect("a command line");
    let name = Path::new(name)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("");
    let (binary, valid) = match name {
        "switchboard-signaling" => (
            PathBuf::from(env!("CARGO_BIN_EXE_switchboard-signaling")),
            "configuration is valid",
        ),
        "switchboard-media" => (media_binary(), "configuration OK"),
        other => panic!("{origin}: unknown binary {other:?} in {words:?}"),
    };
    let mut command = Command::new(binary);
    command.args(flags).env("RUST_LOG", "error");
    if !flags.iter().any(|f| f == "--check-config") {
        command.arg("--check-config");
    }
    let out = command.output().expect("run the binary");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains(valid),
        "{origin}: {words:?} refused ({}):\n{stdout}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Expands `${VAR}`, `${VAR:-default}` and `$(VAR)` inside a word, and a word that is only `$VAR`
/// into the whitespace-separated words of its value (systemd's rule; none when empty).
fn expand(word: &str, vars: &HashMap<String, String>, origin: &str) -> Vec<String> {
    let lookup = |name: &str, default: Option<&str>| -> String {
        vars.get(name)
            .map(String::as_str)
            .or(default)
            .unwrap_or_else(|| panic!("{origin}: ${name} is neither defined nor defaulted"))
            .to_owned()
    };
    if let Some(name) = word.strip_prefix('$') {
        if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            let value = lookup(name, None);
            return value.split_whitespace().map(str::to_owned).collect();
        }
    }
    let mut out = String::new();
    let mut rest = word;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let tail = &rest[at + 1..];
        let close = match tail.chars().next() {
            Some('{') => '}',
            Some('(') => ')',
            _ => panic!("{origin}: unexpected `$` in {word:?}"),
        };
        let end = tail.find(close).expect("closed variable");
        let inner = &tail[1..end];
        let (name, default) = match inner.split_once(":-") {
            Some((n, d)) => (n, Some(d)),
            None => (inner, None),
        };
        out.push_str(&lookup(name, default));
        rest = &tail[end + 1..];
    }
    out.push_str(rest);
    vec![out]
}

/// Every `command:` list of a YAML file written for this repository: block lists (`command:`, then
/// `- item` lines indented deeper) and one-line flow lists (`command: [a, "b"]`).
fn yaml_commands(text: &str) -> Vec<Vec<String>> {
    let unquote = |s: &str| s.trim().trim_matches('"').trim_matches('\'').to_owned();
    let mut commands = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start();
        let Some(value) = trimmed.strip_prefix("command:") else {
            continue;
        };
        let value = value.trim();
        if let Some(flow) = value.strip_prefix('[') {
            let flow = flow.strip_suffix(']').expect("one-line flow list");
            commands.push(flow.split(',').map(unquote).collect());
            continue;
        }
        assert!(value.is_empty(), "unexpected command form: {line}");
        let indent = line.len() - trimmed.len();
        let mut words = Vec::new();
        while let Some(next) = lines.peek() {
            let item = next.trim_start();
            if next.len() - item.len() <= indent || !item.starts_with("- ") {
                break;
            }
            words.push(unquote(&item[2..]));
            lines.next();
        }
        commands.push(words);
    }
    commands
}

/// The command lines of `file` that start a Switchboard binary, variables expanded, paths staged.
fn switchboard_commands(
    stage: &Stage,
    text: &str,
    vars: &HashMap<String, String>,
    origin: &str,
) -> Vec<Vec<String>> {
    yaml_commands(text)
        .into_iter()
        .filter(|c| c.first().is_some_and(|b| b.starts_with("switchboard-")))
        .map(|c| {
            c.iter()
                .flat_map(|w| expand(w, vars, origin))
                .map(|w| stage.map(&w))
                .collect()
        })
        .collect()
}

/// The ports of the `--http-listen` flags of `commands`.
fn http_ports(commands: &[Vec<String>]) -> Vec<String> {
    commands
        .iter()
        .flat_map(|c| c.windows(2))
        .filter(|w| w[0] == "--http-listen")
        .filter_map(|w| w[1].rsplit(':').next().map(str::to_owned))
        .collect()
}

fn read_deploy(path: &str) -> String {
    std::fs::read_to_string(repo_root().join("deploy").join(path)).expect("deploy file")
}

/// Every `.toml` file under `dir`, recursively.
fn toml_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir)
        .expect("folder")
        .map_while(Result::ok)
    {
        let path = entry.path();
        if path.is_dir() {
            toml_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "toml") {
            found.push(path);
        }
    }
}

const CONFIG_DIRS: [&str; 4] = ["", "compose", "k8s/config", "systemd"];

#[test]
fn every_toml_configuration_under_deploy_passes_check_config() {
    let deploy = repo_root().join("deploy");
    let mut all = Vec::new();
    toml_files(&deploy, &mut all);
    for path in &all {
        let dir = path.parent().and_then(|d| d.strip_prefix(&deploy).ok());
        let known = dir.is_some_and(|d| CONFIG_DIRS.iter().any(|c| Path::new(c) == d));
        assert!(known, "{}: add its folder to CONFIG_DIRS", path.display());
    }
    let mut checked = 0;
    for dir in CONFIG_DIRS {
        let stage = Stage::new(dir);
        let folder = repo_root().join("deploy").join(dir);
        let mut names: Vec<String> = std::fs::read_dir(&folder)
            .expect("folder")
            .map_while(Result::ok)
            .filter_map(|e| e.file_name().to_str().map(str::to_owned))
            .filter(|n| n.ends_with(".toml"))
            .collect();
        names.sort();
        for name in names {
            let staged = stage.root().join("etc").join(&name).display().to_string();
            let origin = format!("deploy/{dir}/{name}");
            if name.starts_with("dialplan") {
                // Loaded (and validated) through the signaling configuration that names it.
                let sibling = std::fs::read_to_string(folder.join("switchboard.toml"))
                    .expect("a switchboard.toml beside the dialplan");
                assert!(sibling.contains(&format!("file = \"{name}\"")), "{origin}");
                continue;
            }
            let binary = if name.starts_with("media") {
                "switchboard-media"
            } else {
                "switchboard-signaling"
            };
            assert_accepted(&origin, &[binary.into(), "--config".into(), staged]);
            checked += 1;
        }
    }
    // deploy/switchboard.toml, and signaling + media for Compose, Kubernetes and systemd.
    assert!(checked >= 7, "only {checked} configurations found");
}

/// `KEY=value` lines of a systemd EnvironmentFile.
fn env_file(text: &str) -> HashMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

/// `Key=value` settings of a unit file, in order (a key may repeat).
fn unit_settings(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#') && !l.starts_with('['))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

#[test]
fn systemd_units_start_their_binaries_with_accepted_flags() {
    let stage = Stage::new("systemd");
    for unit in ["switchboard-signaling.service", "switchboard-media.service"] {
        let origin = format!("deploy/systemd/{unit}");
        let settings = unit_settings(&read_deploy(&format!("systemd/{unit}")));
        let get = |key: &str| -> Vec<String> {
            let values = settings.iter().filter(|(k, _)| k == key);
            values.map(|(_, v)| v.clone()).collect()
        };
        let env_path = get("EnvironmentFile").pop().expect("EnvironmentFile");
        let env_text = std::fs::read_to_string(stage.map(&env_path)).expect("environment file");
        let vars = env_file(&env_text);
        let mut starts = 0;
        for line in get("ExecStartPre").into_iter().chain(get("ExecStart")) {
            assert!(!line.contains('"'), "{origin}: quoting is not used: {line}");
            let words: Vec<String> = line
                .trim_start_matches(['-', '@', ':', '+', '!'])
                .split_whitespace()
                .flat_map(|w| expand(w, &vars, &origin))
                .map(|w| stage.map(&w))
                .collect();
            assert_accepted(&origin, &words);
            starts += 1;
        }
        assert_eq!(starts, 2, "{origin}: ExecStartPre (check) and ExecStart");
    }
}

#[test]
fn systemd_units_are_hardened_and_may_write_the_journal() {
    for unit in ["switchboard-signaling.service", "switchboard-media.service"] {
        let settings = unit_settings(&read_deploy(&format!("systemd/{unit}")));
        let has = |key: &str, value: &str| settings.iter().any(|(k, v)| k == key && v == value);
        for (key, value) in [
            ("Type", "simple"), // neither binary speaks sd_notify
            ("NoNewPrivileges", "yes"),
            ("ProtectSystem", "strict"),
            ("Restart", "on-failure"),
            ("CapabilityBoundingSet", ""),
        ] {
            assert!(has(key, value), "{unit}: {key}={value} expected");
        }
        assert!(
            !settings.iter().any(|(k, _)| k == "AmbientCapabilities"),
            "{unit}: every port is above 1024, no capability is needed"
        );
    }
    // Everything signaling writes must be inside its ReadWritePaths (ProtectSystem=strict).
    let unit = unit_settings(&read_deploy("systemd/switchboard-signaling.service"));
    let writable: Vec<&str> = unit
        .iter()
        .filter(|(k, _)| k == "ReadWritePaths")
        .flat_map(|(_, v)| v.split_whitespace())
        .collect();
    let config: toml::Table =
        toml::from_str(&read_deploy("systemd/switchboard.toml")).expect("toml");
    for path in [
        config["events"]["journal_dir"]
            .as_str()
            .expect("journal_dir"),
        config["http"]["api_token_file"]
            .as_str()
            .expect("api_token_file"),
    ] {
        assert!(
            writable.iter().any(|w| Path::new(path).starts_with(w)),
            "{path} is not under ReadWritePaths {writable:?}"
        );
    }
}

#[test]
fn compose_commands_are_accepted_and_health_checks_hit_their_listeners() {
    let stage = Stage::new("compose");
    let text = read_deploy("compose.yaml");
    assert!(
        text.contains("- ./compose:/etc/switchboard:ro"),
        "config mount"
    );
    assert!(
        text.contains("- ./compose/secrets:/run/secrets/switchboard:ro"),
        "secrets mount"
    );
    let commands = switchboard_commands(&stage, &text, &HashMap::new(), "deploy/compose.yaml");
    assert_eq!(
        commands.len(),
        3,
        "signaling and two media nodes: {commands:?}"
    );
    for c in &commands {
        assert_accepted("deploy/compose.yaml", c);
    }
    let ports = http_ports(&commands);
    let checks: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("curl"))
        .filter_map(|l| l.split("http://127.0.0.1:").nth(1))
        .filter_map(|rest| rest.split('/').next())
        .collect();
    assert_eq!(checks.len(), 3, "a health check per Switchboard service");
    for port in checks {
        assert!(
            ports.iter().any(|p| p == port),
            "nothing listens on {port}: {ports:?}"
        );
    }
}

#[test]
fn dockerfile_default_command_is_accepted() {
    let stage = Stage::new("compose");
    let text = read_deploy("Dockerfile");
    let cmd = text
        .lines()
        .find_map(|l| l.strip_prefix("CMD "))
        .expect("a CMD line");
    let words: Vec<String> = serde_json::from_str(cmd).expect("CMD in exec (JSON) form");
    let words: Vec<String> = words.iter().map(|w| stage.map(w)).collect();
    assert_accepted("deploy/Dockerfile CMD", &words);
}

#[test]
fn kubernetes_commands_are_accepted_and_probes_hit_their_listeners() {
    let stage = Stage::new("k8s/config");
    let vars = HashMap::from([("POD_IP".to_owned(), "127.0.0.1".to_owned())]);
    let mut all = 0;
    for file in ["signaling.yaml", "media.yaml", "redis.yaml"] {
        let origin = format!("deploy/k8s/{file}");
        let text = read_deploy(&format!("k8s/{file}"));
        assert!(
            !text.lines().any(|l| l.trim_start().starts_with("args:")),
            "{origin}: flags belong in `command:`, which this test reads"
        );
        let commands = switchboard_commands(&stage, &text, &vars, &origin);
        if !commands.is_empty() {
            assert!(
                text.contains("name: POD_IP"),
                "{origin}: $(POD_IP) is declared"
            );
            assert!(
                text.contains("mountPath: /etc/switchboard,"),
                "{origin}: config"
            );
        }
        for c in &commands {
            assert_accepted(&origin, c);
        }
        let ports = http_ports(&commands);
        for probe in text.lines().filter(|l| l.contains("httpGet:")) {
            let port = probe.split("port: ").nth(1).expect("probe port");
            let port = port.trim_end_matches(['}', ' ']);
            assert!(
                ports.iter().any(|p| p == port),
                "{origin}: probe on {port}: {ports:?}"
            );
        }
        all += commands.len();
    }
    assert_eq!(all, 2, "the signaling Deployment and the media StatefulSet");
}

#[test]
fn kustomization_generates_config_maps_from_the_checked_files() {
    let text = read_deploy("k8s/kustomization.yaml");
    let mut files = 0;
    for item in text.lines().filter_map(|l| l.trim().strip_prefix("- ")) {
        let path = item.rsplit('=').next().unwrap_or(item);
        if path.starts_with("config/") {
            let full = repo_root().join("deploy/k8s").join(path);
            assert!(
                full.is_file(),
                "{path} listed in kustomization.yaml is missing"
            );
            files += 1;
        }
    }
    let on_disk = std::fs::read_dir(repo_root().join("deploy/k8s/config"))
        .expect("config dir")
        .count();
    assert_eq!(
        files, on_disk,
        "every file of deploy/k8s/config is in a ConfigMap"
    );
}

/// `(scheme, host:port)` of every `[[media.nodes]]` grpc_uri in a signaling configuration.
fn media_node_uris(config_path: &str) -> Vec<(String, String)> {
    let config: toml::Table = toml::from_str(&read_deploy(config_path)).expect("toml");
    let nodes = config["media"]["nodes"].as_array().expect("media.nodes");
    nodes
        .iter()
        .map(|n| n["grpc_uri"].as_str().expect("grpc_uri"))
        .map(|uri| uri.split_once("://").expect("scheme"))
        .map(|(scheme, authority)| (scheme.to_owned(), authority.to_owned()))
        .collect()
}

/// The value after `flag` in a command line.
fn flag<'a>(command: &'a [String], flag: &str) -> Option<&'a str> {
    let at = command.iter().position(|w| w == flag)?;
    command.get(at + 1).map(String::as_str)
}

#[test]
fn signaling_lists_the_media_nodes_each_deployment_starts() {
    // Compose: exactly the media services' gRPC listeners, plain (loopback of one host).
    let stage = Stage::new("compose");
    let compose = read_deploy("compose.yaml");
    let commands = switchboard_commands(&stage, &compose, &HashMap::new(), "compose");
    let mut listeners: Vec<(String, String)> = commands
        .iter()
        .filter_map(|c| flag(c, "--grpc-listen"))
        .map(|a| ("http".to_owned(), a.to_owned()))
        .collect();
    let mut uris = media_node_uris("compose/switchboard.toml");
    listeners.sort();
    uris.sort();
    assert_eq!(uris, listeners, "compose/switchboard.toml vs compose.yaml");

    // Kubernetes: the StatefulSet's pods by their stable names, over mutual TLS.
    let media = read_deploy("k8s/media.yaml");
    let namespace = read_deploy("k8s/kustomization.yaml");
    let namespace = namespace
        .lines()
        .find_map(|l| l.strip_prefix("namespace: "))
        .expect("namespace");
    let replicas: usize = media
        .lines()
        .find_map(|l| l.trim().strip_prefix("replicas: "))
        .and_then(|r| r.parse().ok())
        .expect("replicas");
    assert!(
        media.contains("--tls-client-ca"),
        "k8s media nodes use mutual TLS"
    );
    let expected: Vec<(String, String)> = (0..replicas)
        .map(|i| {
            let host =
                format!("switchboard-media-{i}.switchboard-media.{namespace}.svc.cluster.local");
            ("https".to_owned(), format!("{host}:50051"))
        })
        .collect();
    assert!(media.contains("- $(POD_IP):50051"), "k8s media gRPC port");
    assert!(
        media.contains("serviceName: switchboard-media"),
        "headless Service"
    );
    assert_eq!(media_node_uris("k8s/config/switchboard.toml"), expected);

    // systemd: the port of media.env's GRPC_LISTEN, plain unless TLS_ARGS is set.
    let env = env_file(&read_deploy("systemd/media.env"));
    let port = env["GRPC_LISTEN"]
        .rsplit(':')
        .next()
        .expect("port")
        .to_owned();
    let scheme = if env["TLS_ARGS"].is_empty() {
        "http"
    } else {
        "https"
    };
    let uris = media_node_uris("systemd/switchboard.toml");
    assert!(
        uris.iter().any(|(_, a)| *a == env["GRPC_LISTEN"]),
        "{uris:?}"
    );
    for (s, authority) in uris {
        assert_eq!(
            (s.as_str(), authority.rsplit(':').next()),
            (scheme, Some(&*port))
        );
    }
}

/// Children killed (by their own PIDs) on drop.
struct Children(Vec<std::process::Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `text` with the port of every `127.0.0.1:PORT` found in `ports` replaced (one pass).
fn remap(text: &str, ports: &HashMap<String, u16>) -> String {
    const HOST: &str = "127.0.0.1:";
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(HOST) {
        let start = at + HOST.len();
        out.push_str(&rest[..start]);
        let digits: String = rest[start..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        match ports.get(&digits) {
            Some(port) => out.push_str(&port.to_string()),
            None => out.push_str(&digits),
        }
        rest = &rest[start + digits.len()..];
    }
    out.push_str(rest);
    out
}

/// `GET path` once something listens on `addr`; `None` while nothing does.
fn try_get(addr: &str, path: &str) -> Option<(u16, String)> {
    let addr: std::net::SocketAddr = addr.parse().expect("address");
    std::net::TcpStream::connect(addr).ok()?;
    Some(support::http_get(addr, path))
}

/// Polls `GET http://addr/path` (at most 30 s) until `done` holds; returns the last answer.
fn poll(addr: &str, path: &str, done: impl Fn(u16, &str) -> bool) -> (u16, String) {
    let mut last = (0, String::from("nothing listening"));
    for _ in 0..300 {
        if let Some((code, body)) = try_get(addr, path) {
            if done(code, &body) {
                return (code, body);
            }
            last = (code, body);
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    last
}

#[test]
fn compose_topology_runs_on_loopback_and_becomes_ready() {
    // The Compose command lines, run natively: their fixed ports move to free ones, the same move
    // in the signaling configuration, so signaling must still find both media nodes. Redis is not
    // started: signaling runs without it (and warns).
    let stage = Stage::new("compose");
    let compose = read_deploy("compose.yaml");
    let commands = switchboard_commands(&stage, &compose, &HashMap::new(), "compose");
    let config_path = stage.root().join("etc/switchboard.toml");
    let config = std::fs::read_to_string(&config_path).expect("staged config");
    let mut ports = HashMap::new();
    let everything = format!("{commands:?} {compose} {config}");
    for piece in everything.split("127.0.0.1:").skip(1) {
        let port: String = piece.chars().take_while(char::is_ascii_digit).collect();
        if !port.is_empty() && !ports.contains_key(&port) {
            let taken: Vec<u16> = ports.values().copied().collect();
            let free = std::iter::repeat_with(support::free_port)
                .find(|p| !taken.contains(p))
                .expect("a free port");
            ports.insert(port, free);
        }
    }
    std::fs::write(&config_path, remap(&config, &ports)).expect("write config");
    let mut children = Children(Vec::new());
    for command in &commands {
        let mut words: Vec<String> = command.iter().map(|w| remap(w, &ports)).collect();
        if let Some(at) = words.iter().position(|w| w == "--ports") {
            let (low, high) = support::media_node::free_range(16);
            words[at + 1] = format!("{low}-{high}");
        }
        let binary = if words[0] == "switchboard-media" {
            media_binary()
        } else {
            PathBuf::from(env!("CARGO_BIN_EXE_switchboard-signaling"))
        };
        let child = Command::new(binary)
            .args(&words[1..])
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start");
        children.0.push(child);
    }
    // Every Compose health check answers 200 on the address it names.
    let urls: Vec<String> = compose
        .lines()
        .filter(|l| l.contains("curl"))
        .filter_map(|l| l.split("\"http://").nth(1))
        .filter_map(|rest| rest.split('"').next())
        .map(|url| remap(url, &ports))
        .collect();
    assert_eq!(urls.len(), 3);
    for url in &urls {
        let (addr, path) = url.split_at(url.find('/').expect("path"));
        let (code, body) = poll(addr, path, |code, _| code == 200);
        assert_eq!(code, 200, "{url}: {body}");
    }
    // Signaling is ready: SIP bound and both media nodes up.
    let signaling = commands
        .iter()
        .find(|c| c[0] == "switchboard-signaling")
        .expect("a signaling command");
    let http = flag(signaling, "--http-listen").expect("--http-listen");
    let http = remap(http, &ports);
    let (code, body) = poll(&http, "/health/ready", |code, body| {
        code == 200 && body.contains("\"media_nodes_up\":2")
    });
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("\"media_nodes_up\":2"), "{body}");
}
