use std::time::Duration;

use super::*;

fn ctx() -> PlanContext {
    PlanContext {
        trunks: vec!["carrier".into(), "backup".into()],
        users: vec!["1001".into(), "1002".into(), "1003".into()],
    }
}

fn plan(text: &str) -> Dialplan {
    Dialplan::parse(text, &ctx()).unwrap()
}

fn errors(text: &str) -> Vec<String> {
    Dialplan::parse(text, &ctx())
        .unwrap_err()
        .0
        .iter()
        .map(ToString::to_string)
        .collect()
}

/// A call from user 1001 at 127.0.0.1, Wednesday 2026-11-25 12:00 UTC.
fn call(called: &str) -> RouteRequest<'_> {
    RouteRequest {
        called,
        calling: "1001",
        domain: "sb.example",
        source_ip: "127.0.0.1".parse().unwrap(),
        origin: Origin::User("1001"),
        headers: vec![],
        unix_time: 1_795_608_000,
    }
}

const EXAMPLE: &str = r#"
[[rules]]
name = "blocked"
match.called = { prefix = "0900" }
action = { kind = "reject", code = 403 }

[[rules]]
name = "outbound"
match = { called = { prefix = "9" }, source = "users" }
rewrite_called = { strip = 1, prefix = "+1" }
rewrite_calling = { set = "+15550100" }
action = { kind = "trunk", trunks = ["carrier", "backup"] }

[[rules]]
name = "sales"
match.called = "200"
action = { kind = "ring_group", members = ["1001", "1002"], timeout_secs = 20 }

[[rules]]
name = "users"
match.called = { regex = "^1\\d{3}$" }
action = { kind = "user" }
"#;

#[test]
fn first_matching_rule_decides_in_file_order() {
    let p = plan(EXAMPLE);
    assert_eq!(p.route(&call("09001234")).unwrap().rule, "blocked");
    assert_eq!(p.route(&call("1002")).unwrap().action, Action::User);
    assert!(p.route(&call("5555")).is_none(), "no rule matches");
    assert_eq!(
        p.rule_names().collect::<Vec<_>>(),
        ["blocked", "outbound", "sales", "users"]
    );
}

#[test]
fn reject_without_reason_gets_the_standard_phrase() {
    let r = plan(EXAMPLE).route(&call("09001234")).unwrap();
    assert_eq!(
        r.action,
        Action::Reject {
            code: 403,
            reason: "Forbidden".into()
        }
    );
}

#[test]
fn numbers_are_rewritten_after_matching() {
    let r = plan(EXAMPLE).route(&call("95551234")).unwrap();
    assert_eq!(r.rule, "outbound");
    assert_eq!(r.called, "+15551234");
    assert_eq!(r.calling, "+15550100");
    assert_eq!(
        r.action,
        Action::Trunks(vec!["carrier".into(), "backup".into()])
    );
}

#[test]
fn regex_rewrite_uses_capture_groups() {
    let p = plan(
        r#"[[rules]]
name = "national"
rewrite_called = { regex = "^0(\\d+)$", replace = "+44$1" }
action = { kind = "trunk", trunks = ["carrier"] }
"#,
    );
    assert_eq!(
        p.route(&call("02071234567")).unwrap().called,
        "+442071234567"
    );
    assert_eq!(p.route(&call("+331234")).unwrap().called, "+331234");
}

#[test]
fn ring_group_members_and_timeout() {
    let r = plan(EXAMPLE).route(&call("200")).unwrap();
    assert_eq!(
        r.action,
        Action::RingGroup {
            members: vec!["1001".into(), "1002".into()],
            timeout: Duration::from_secs(20)
        }
    );
}

#[test]
fn source_conditions_tell_users_trunks_and_ip_ranges_apart() {
    let p = plan(
        r#"[[rules]]
name = "from carrier"
match.source = "trunk:carrier"
action = { kind = "user" }
[[rules]]
name = "from the lan"
match.source = ["10.0.0.0/8", "fd00::/8"]
action = { kind = "reject", code = 488 }
[[rules]]
name = "any trunk"
match.source = "trunks"
action = { kind = "reject", code = 503 }
"#,
    );
    let mut req = call("1001");
    req.origin = Origin::Trunk("carrier");
    assert_eq!(p.route(&req).unwrap().rule, "from carrier");
    req.origin = Origin::Trunk("backup");
    assert_eq!(p.route(&req).unwrap().rule, "any trunk");
    req.origin = Origin::User("1001");
    req.source_ip = "10.1.2.3".parse().unwrap();
    assert_eq!(p.route(&req).unwrap().rule, "from the lan");
    req.source_ip = "::ffff:10.9.9.9".parse().unwrap();
    assert_eq!(
        p.route(&req).unwrap().rule,
        "from the lan",
        "v4-mapped source"
    );
    req.source_ip = "fd12::1".parse().unwrap();
    assert_eq!(p.route(&req).unwrap().rule, "from the lan");
    req.source_ip = "192.0.2.1".parse().unwrap();
    assert!(p.route(&req).is_none());
}

#[test]
fn header_condition_matches_any_value_case_insensitively() {
    let p = plan(
        r#"[[rules]]
name = "priority"
match.headers = [{ name = "X-Priority", exact = "urgent" }]
action = { kind = "reject", code = 486 }
"#,
    );
    let mut req = call("1001");
    assert!(p.route(&req).is_none());
    req.headers = vec![("x-priority", "normal"), ("X-PRIORITY", " urgent")];
    assert_eq!(p.route(&req).unwrap().rule, "priority");
}

#[test]
fn time_of_day_uses_the_plan_offset_and_wraps_midnight() {
    let p = plan(
        r#"utc_offset = "+02:00"
[[rules]]
name = "office"
match.time = { days = ["mon-fri"], from = "09:00", to = "17:30" }
action = { kind = "user" }
[[rules]]
name = "night"
match.time = { from = "22:00", to = "06:00" }
action = { kind = "reject", code = 480 }
"#,
    );
    let mut req = call("1001");
    // Wednesday 12:00 UTC = 14:00 local.
    assert_eq!(p.route(&req).unwrap().rule, "office");
    // Wednesday 15:30 UTC = 17:30 local: the window is half-open.
    req.unix_time += 3 * 3600 + 1800;
    assert!(p.route(&req).is_none());
    // Thursday 01:00 local = Wednesday 23:00 UTC.
    req.unix_time = 1_795_608_000 + 11 * 3600;
    assert_eq!(p.route(&req).unwrap().rule, "night");
    // Saturday 2026-11-28 12:00 UTC: not an office day.
    req.unix_time = 1_795_608_000 + 3 * 86_400;
    assert!(p.route(&req).is_none());
}

#[test]
fn every_error_is_listed_with_its_key_path() {
    let errs = errors(
        r#"utc_offset = "CET"
[[rules]]
name = "a"
match.called = { regex = "(" }
action = { kind = "trunk", trunks = ["nowhere"] }
[[rules]]
name = "b"
match = { source = "trunk:ghost", time = { days = ["funday"], from = "25:00" } }
action = { kind = "reject", code = 200 }
[[rules]]
name = "a"
action = { kind = "hunt", members = ["1001", "9999", "1001"] }
[[rules]]
name = "c"
colour = "blue"
action = { kind = "user" }
[[rules]]
name = "d"
action = { kind = "teleport" }
[[rules]]
name = "e"
match.called = { prefix = "1", regex = "2" }
rewrite_called = { strip = 1, set = "x" }
action = { kind = "user", code = 404 }
"#,
    );
    let expected = [
        "utc_offset: ",
        "rules[0].match.called.regex: invalid regex \"(\"",
        "rules[0].action.trunks[0]: unknown trunk \"nowhere\"",
        "rules[1].match.source[0]: unknown trunk \"ghost\"",
        "rules[1].match.time.days[0]: ",
        "rules[1].match.time.from: ",
        "rules[1].action.code: 200 is not a 4xx-6xx status",
        "rules[2].action.members[1]: unknown user \"9999\"",
        "rules[2].action.members[2]: \"1001\" listed twice",
        "rules[3]: unknown field `colour`",
        "rules[4].action.kind: \"teleport\" is not one of",
        "rules[5].match.called: give exactly one of",
        "rules[5].rewrite_called: give",
        "rules[5].action.code: not used by kind \"user\"",
    ];
    for e in expected {
        assert!(
            errs.iter().any(|x| x.starts_with(e)),
            "missing {e:?} in {errs:#?}"
        );
    }
    assert_eq!(errs.len(), expected.len(), "{errs:#?}");
}

#[test]
fn duplicate_rule_names_are_refused() {
    let errs = errors(
        "[[rules]]\nname = \"x\"\naction = { kind = \"user\" }\n[[rules]]\nname = \"x\"\naction = { kind = \"user\" }\n",
    );
    assert_eq!(
        errs,
        ["rules[1].name: \"x\" is already the name of an earlier rule"]
    );
}

#[test]
fn syntax_error_names_the_line() {
    let errs = errors("[[rules]]\nname = \"x\"\naction = { kind = \n");
    assert_eq!(errs.len(), 1);
    assert!(errs[0].contains("line 3"), "{errs:?}");
}

#[test]
fn default_plan_dials_the_called_user() {
    let r = Dialplan::registered_users_only()
        .route(&call("1002"))
        .unwrap();
    assert_eq!((r.called.as_str(), r.action), ("1002", Action::User));
}

#[test]
fn empty_file_is_a_plan_that_routes_nothing() {
    let p = plan("");
    assert!(p.is_empty());
    assert!(p.route(&call("1001")).is_none());
}
