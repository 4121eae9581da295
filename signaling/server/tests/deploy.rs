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

use support::certs::{Certs, make_certs};
use support::media_node::media_binary;
use support::{TempDir, repo_root};

/// One deployment's files mapped onto a scratch folder.
struct Stage {
    dir: TempDir,
    _certs: Certs,
}

impl Stage {
    /// Copies the `.toml` and `.env` files of `deploy/<config_dir>` to `etc/`, with the absolute
    /// paths in them mapped onto the scratch folder, and makes the secrets.
    fn new(config_dir: &str) -> Stage {
        let stage = Stage {
            dir: TempDir::new("sb-deploy"),
            _certs: make_certs(),
        };
        for sub in ["etc", "state", "secrets"] {
            std::fs::create_dir_all(stage.root().join(sub)).expect("mkdir");
        }
        let from = repo_root().join("deploy").join(config_dir);
        for entry in std::fs::read_dir(&from).expect("config dir").map_while(Result::ok) {
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
        let c = &stage._certs;
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
    let name = Path::new(name).file_name().and_then(|n| n.to_str()).unwrap_or("");
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

#[test]
fn every_toml_configuration_under_deploy_passes_check_config() {
    let mut checked = 0;
    for dir in ["", "compose", "k8s/config", "systemd"] {
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
        config["events"]["journal_dir"].as_str().expect("journal_dir"),
        config["http"]["api_token_file"].as_str().expect("api_token_file"),
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
    assert!(text.contains("- ./compose:/etc/switchboard:ro"), "config mount");
    assert!(text.contains("- ./compose/secrets:/run/secrets/switchboard:ro"), "secrets mount");
    let commands = switchboard_commands(&stage, &text, &HashMap::new(), "deploy/compose.yaml");
    assert_eq!(commands.len(), 3, "signaling and two media nodes: {commands:?}");
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
        assert!(ports.iter().any(|p| p == port), "nothing listens on {port}: {ports:?}");
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
            assert!(text.contains("name: POD_IP"), "{origin}: $(POD_IP) is declared");
            assert!(text.contains("mountPath: /etc/switchboard,"), "{origin}: config");
        }
        for c in &commands {
            assert_accepted(&origin, c);
        }
        let ports = http_ports(&commands);
        for probe in text.lines().filter(|l| l.contains("httpGet:")) {
            let port = probe.split("port: ").nth(1).expect("probe port");
            let port = port.trim_end_matches(['}', ' ']);
            assert!(ports.iter().any(|p| p == port), "{origin}: probe on {port}: {ports:?}");
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
            assert!(full.is_file(), "{path} listed in kustomization.yaml is missing");
            files += 1;
        }
    }
    let on_disk = std::fs::read_dir(repo_root().join("deploy/k8s/config"))
        .expect("config dir")
        .count();
    assert_eq!(files, on_disk, "every file of deploy/k8s/config is in a ConfigMap");
}
