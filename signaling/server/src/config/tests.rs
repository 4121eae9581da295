use super::*;

fn validate(text: &str) -> Result<Config, ConfigError> {
    FileConfig::from_toml(text)?.validate(&Overrides::default())
}

fn keys(err: ConfigError) -> Vec<String> {
    err.0.into_iter().map(|i| i.key).collect()
}

#[test]
fn example_config_in_deploy_is_valid() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/switchboard.toml");
    let cfg = FileConfig::load(Path::new(path)).and_then(|f| f.validate(&Overrides::default()));
    let cfg = cfg.unwrap_or_else(|e| panic!("deploy/switchboard.toml: {e}"));
    let names: Vec<_> = cfg.users.iter().map(|u| u.username.as_str()).collect();
    assert_eq!(names, ["1001", "1002", "1003", "1004"]);
}

#[test]
fn empty_file_gives_documented_defaults() {
    let cfg = validate("").expect("defaults are valid");
    assert_eq!(
        cfg.sip_listen,
        vec!["127.0.0.1:5060".parse::<SocketAddr>().expect("addr")]
    );
    assert_eq!(cfg.max_message_size, 16 * 1024);
    assert_eq!(cfg.timers.t1, Duration::from_millis(500));
    assert_eq!(cfg.registrar.min_expires, 60);
}

#[test]
fn every_semantic_error_is_reported_with_its_key_path() {
    let err = validate(
        r#"
        [sip]
        listen = ["127.0.0.1:5060", "nonsense"]
        [sip.timers]
        t1_ms = 500
        t2_ms = 100
        [http]
        listen = "localhost"
        [registrar]
        max_expires = 10
        [[users]]
        username = "1001"
        [[users]]
        username = "1002"
        ha1 = "xyz"
        [[users]]
        username = "1002"
        password = "a"
        ha1 = "00000000000000000000000000000000"
        "#,
    )
    .expect_err("invalid");
    let k = keys(err);
    for expected in [
        "sip.listen[1]",
        "sip.timers.t2_ms",
        "http.listen",
        "registrar.max_expires",
        "registrar.default_expires",
        "users[0].password",
        "users[1].ha1",
        "users[2].username",
        "users[2].password",
    ] {
        assert!(
            k.iter().any(|x| x == expected),
            "missing {expected} in {k:?}"
        );
    }
}

#[test]
fn unknown_key_is_refused_naming_the_key() {
    let err = validate("[sip]\nlisten_on = []\n").expect_err("unknown key");
    let text = err.to_string();
    assert!(text.contains("listen_on"), "{text}");
}

#[test]
fn flags_override_the_file_and_their_errors_name_the_flag() {
    let file = FileConfig::from_toml("[sip]\nlisten = [\"127.0.0.1:5070\"]\n").expect("toml");
    let o = Overrides {
        sip_listen: vec!["[::1]:5080".into(), "bad".into()],
        http_listen: None,
    };
    let k = keys(file.validate(&o).expect_err("bad flag"));
    assert_eq!(k, ["--sip-listen[1]"]);
    let file = FileConfig::from_toml("").expect("toml");
    let o = Overrides {
        sip_listen: vec!["[::1]:5080".into()],
        http_listen: Some("127.0.0.1:0".into()),
    };
    let cfg = file.validate(&o).expect("valid");
    assert_eq!(
        cfg.sip_listen,
        vec!["[::1]:5080".parse::<SocketAddr>().expect("addr")]
    );
    assert_eq!(cfg.http_listen.port(), 0);
}

#[test]
fn an_https_media_node_needs_the_media_tls_keys_and_each_must_read() {
    let node = "[[media.nodes]]\nname = \"m1\"\ngrpc_uri = \"https://10.0.0.5:50051\"\n";
    let k = keys(validate(&format!("[media]\n{node}")).expect_err("no TLS settings"));
    assert_eq!(k, ["media.tls_ca", "media.tls_cert", "media.tls_key"]);
    let text = format!(
        "[media]\ntls_ca = \"/nonexistent/ca.pem\"\ntls_cert = \"/nonexistent/c.pem\"\n{node}"
    );
    let err = validate(&text).expect_err("unreadable and missing");
    let shown = err.to_string();
    assert_eq!(
        keys(err),
        ["media.tls_ca", "media.tls_cert", "media.tls_key"]
    );
    assert!(shown.contains("cannot read /nonexistent/ca.pem"), "{shown}");
    let plain = "[[media.nodes]]\nname = \"m1\"\ngrpc_uri = \"http://10.0.0.5:50051\"\n";
    assert!(
        validate(&format!("[media]\n{plain}"))
            .expect("plain gRPC")
            .media_tls
            .is_none()
    );
}

#[test]
fn media_section_defaults_and_errors_name_their_keys() {
    let cfg = validate("").expect("defaults are valid");
    assert_eq!(cfg.media.rtp_ip.to_string(), "127.0.0.1");
    assert_eq!((cfg.media.ports.low, cfg.media.ports.high), (30000, 39999));
    assert_eq!(cfg.media.rtp_timeout, Duration::from_secs(60));
    let cfg = validate("[media]\nrtp_ip = \"::1\"\nports = \"40000-40099\"\n").expect("valid");
    assert_eq!(cfg.media.rtp_ip.to_string(), "::1");
    assert_eq!((cfg.media.ports.low, cfg.media.ports.high), (40000, 40099));
    for (rtp_ip, ports) in [
        ("0.0.0.0", "30001-39999"),
        ("media.example", "30000"),
        ("", "40000-30000"),
        ("::", "30000-30002"),
    ] {
        let text =
            format!("[media]\nrtp_ip = \"{rtp_ip}\"\nports = \"{ports}\"\nrtp_timeout_secs = 0\n");
        let k = keys(validate(&text).expect_err("invalid"));
        assert_eq!(
            k,
            ["media.rtp_ip", "media.ports", "media.rtp_timeout_secs"],
            "{text}"
        );
    }
}

fn route_in(cfg: &Config, called: &str) -> switchboard_dialplan::Route {
    let req = switchboard_dialplan::RouteRequest {
        called,
        calling: "1001",
        domain: "127.0.0.1",
        source_ip: "127.0.0.1".parse().expect("ip"),
        origin: switchboard_dialplan::Origin::User("1001"),
        headers: vec![],
        unix_time: 0,
    };
    cfg.dialplan
        .route(&req)
        .unwrap_or_else(|| panic!("no rule for {called}"))
}

#[test]
fn example_plan_sends_demo_users_to_themselves_and_9_numbers_to_the_trunk() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/switchboard.toml");
    let cfg = FileConfig::load(Path::new(path))
        .and_then(|f| f.validate(&Overrides::default()))
        .unwrap_or_else(|e| panic!("deploy/switchboard.toml: {e}"));
    assert!(
        cfg.dialplan_path
            .as_ref()
            .is_some_and(|p| p.ends_with("deploy/dialplan.toml"))
    );
    let user = route_in(&cfg, "1002");
    assert_eq!(
        (user.called.as_str(), &user.action),
        ("1002", &switchboard_dialplan::Action::User)
    );
    let out = route_in(&cfg, "95551234");
    assert_eq!(out.called, "5551234");
    assert_eq!(
        out.action,
        switchboard_dialplan::Action::Trunks(vec!["example-carrier".into()])
    );
    assert_eq!(
        cfg.trunks[0].address,
        "127.0.0.1:5080".parse().expect("addr")
    );
    assert!(cfg.trunks[0].accepts("127.0.0.2".parse().expect("ip")));
    assert!(!cfg.trunks[0].accepts("127.0.0.1".parse().expect("ip")));
    assert_eq!(
        cfg.trunks[0].keepalive,
        Some(super::Keepalive {
            interval: std::time::Duration::from_secs(30),
            failures: 2
        })
    );
}

#[test]
fn security_settings_out_of_range_name_their_keys() {
    let err = validate(
        r#"
        [security]
        ban_after_failures = 20000
        ban_window_secs = 0
        ban_secs = 0
        "#,
    )
    .expect_err("invalid");
    assert_eq!(
        keys(err),
        [
            "security.ban_after_failures",
            "security.ban_window_secs",
            "security.ban_secs"
        ]
    );
}

#[test]
fn trunk_address_may_be_a_host_name_resolved_at_start() {
    let cfg = validate(
        r#"
        [[trunks]]
        name = "carrier"
        address = "localhost:5080"
        "#,
    )
    .expect("valid");
    assert_eq!(
        cfg.trunks[0].address,
        "127.0.0.1:5080"
            .parse::<std::net::SocketAddr>()
            .expect("addr"),
        "IPv4 preferred"
    );
    assert_eq!(
        cfg.trunks[0].domain, "localhost:5080",
        "the name, not the address"
    );
    let err = validate(
        r#"
        [[trunks]]
        name = "carrier"
        address = "localhost:99999"
        "#,
    )
    .expect_err("no such port");
    assert_eq!(keys(err), ["trunks[0].address"]);
}

#[test]
fn trunk_errors_name_their_keys() {
    let err = validate(
        r#"
        [[trunks]]
        name = "a"
        address = "carrier.example"
        transport = "sctp"
        inbound_ips = ["10.0.0.0/33"]
        [[trunks]]
        name = "a"
        address = "192.0.2.1:5060"
        caller_id = "bad id"
        keepalive_interval_s = 0
        [[trunks]]
        name = "b"
        address = "192.0.2.2:5060"
        keepalive_failures = 3
        username = "acct"
        "#,
    )
    .expect_err("invalid");
    assert_eq!(
        keys(err),
        [
            "trunks[0].address",
            "trunks[0].transport",
            "trunks[0].inbound_ips[0]",
            "trunks[1].name",
            "trunks[1].caller_id",
            "trunks[1].keepalive_interval_s",
            "trunks[2].keepalive_failures",
            "trunks[2].password"
        ]
    );
}

#[test]
fn dialplan_errors_are_reported_with_the_file_and_rule_path() {
    let dir = std::env::temp_dir().join(format!("sb-plan-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(
        dir.join("plan.toml"),
        "[[rules]]\nname = \"x\"\naction = { kind = \"trunk\", trunks = [\"nowhere\"] }\n\
         [[rules]]\nname = \"y\"\naction = { kind = \"hunt\", members = [\"9999\"] }\n",
    )
    .expect("write");
    std::fs::write(
        dir.join("sb.toml"),
        "[dialplan]\nfile = \"plan.toml\"\n[[users]]\nusername = \"1001\"\npassword = \"p\"\n",
    )
    .expect("write");
    let err = FileConfig::load(&dir.join("sb.toml"))
        .and_then(|f| f.validate(&Overrides::default()))
        .expect_err("bad plan");
    let text = err.to_string();
    std::fs::remove_dir_all(&dir).ok();
    assert!(
        text.contains("plan.toml) rules[0].action.trunks[0]: unknown trunk \"nowhere\""),
        "{text}"
    );
    assert!(
        text.contains("plan.toml) rules[1].action.members[0]: unknown user \"9999\""),
        "{text}"
    );
}

#[test]
fn ring_groups_load_with_their_ring_time() {
    let dir = std::env::temp_dir().join(format!("sb-plan-rg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(
        dir.join("plan.toml"),
        "[[rules]]\nname = \"sales\"\naction = { kind = \"ring_group\", members = [\"1001\", \"1002\"], timeout_secs = 20 }\n",
    )
    .expect("write");
    let ctx = switchboard_dialplan::PlanContext {
        trunks: Vec::new(),
        users: vec!["1001".into(), "1002".into()],
    };
    let plan = load_dialplan(&dir.join("plan.toml"), &ctx);
    std::fs::remove_dir_all(&dir).ok();
    let plan = plan.expect("a ring group is carried out by parallel forking");
    let actions: Vec<_> = plan.actions().map(|(_, a)| a.clone()).collect();
    assert_eq!(
        actions,
        [switchboard_dialplan::Action::RingGroup {
            members: vec!["1001".into(), "1002".into()],
            timeout: std::time::Duration::from_secs(20),
        }]
    );
}

#[test]
fn event_sink_errors_name_their_keys() {
    let err = validate(
        r#"
        [events.nats]
        url = "http://broker:4222"
        timeout_ms = 0
        [events.redis]
        url = "redis://127.0.0.1:6379"
        maxlen = 0
        "#,
    )
    .expect_err("invalid");
    assert_eq!(
        keys(err),
        [
            "events.nats.url",
            "events.nats.timeout_ms",
            "events.redis.maxlen"
        ]
    );
}

#[test]
fn tls_listen_needs_a_certificate_and_key_and_bad_addresses_are_named() {
    let err = validate(
        r#"
        [sip]
        listen = ["127.0.0.1:5060"]
        tls_listen = ["127.0.0.1:5061", "nowhere"]
        tls_ca = "no-such-ca.pem"
        "#,
    )
    .expect_err("no certificate");
    assert_eq!(
        keys(err),
        [
            "sip.tls_listen[1]",
            "sip.tls_ca",
            "sip.tls_cert",
            "sip.tls_key"
        ]
    );
    // Without TLS anywhere, nothing is read or required.
    let cfg = validate("[sip]\nlisten = [\"127.0.0.1:5060\"]\n").expect("valid");
    assert!(cfg.tls.is_none() && cfg.sip_tls_listen.is_empty());
    // Verifying clients needs a listener and the CA their certificates chain to.
    let err = validate("[sip]\ntls_verify_clients = true\n").expect_err("nothing to verify with");
    assert_eq!(keys(err), ["sip.tls_verify_clients"]);
}

#[test]
fn overload_settings_have_documented_defaults_and_errors_name_their_keys() {
    let cfg = validate("").expect("defaults are valid");
    assert_eq!(
        cfg.overload,
        OverloadConfig {
            max_calls: 100_000,
            queue_delay: Duration::from_millis(200),
            recovery: Duration::from_secs(2),
            retry_after_secs: 5,
        }
    );
    let cfg = validate("[sip]\nmax_calls = 1\noverload_queue_delay_ms = 0\n").expect("valid");
    assert_eq!(
        (cfg.overload.max_calls, cfg.overload.queue_delay),
        (1, Duration::ZERO),
        "0 turns load shedding off"
    );
    let err = validate(
        r#"
        [sip]
        max_calls = 0
        overload_queue_delay_ms = 60001
        overload_recovery_ms = 0
        overload_retry_after_secs = 0
        "#,
    )
    .expect_err("invalid");
    assert_eq!(
        keys(err),
        [
            "sip.max_calls",
            "sip.overload_queue_delay_ms",
            "sip.overload_recovery_ms",
            "sip.overload_retry_after_secs"
        ]
    );
}
