//! Parsing and checking whole configs: what each mistake is told.

use super::*;

const SANDBOX: &str = include_str!("../../../../config/sandbox.toml");

fn parse(text: &str) -> Result<Topology, ConfigError> {
    Topology::parse(text, "test.toml", std::iter::empty())
}

fn parse_with_env(text: &str, env: &[(&str, &str)]) -> Result<Topology, ConfigError> {
    Topology::parse(
        text,
        "test.toml",
        env.iter().map(|(k, v)| (k.to_string(), v.to_string())),
    )
}

fn error_of(result: Result<Topology, ConfigError>) -> (String, String) {
    match result {
        Err(ConfigError::Field { field, message, .. }) => (field, message),
        other => panic!("expected a field error, got {other:?}"),
    }
}

#[test]
fn the_committed_sandbox_config_parses() {
    let topology = parse(SANDBOX).unwrap();
    assert_eq!(topology.primary.account_id.as_str(), "111111111111");
    assert_eq!(topology.dr.region.as_str(), "us-west-2");
    assert!(topology.sandbox.is_some());
}

#[test]
fn a_bad_account_id_names_the_field() {
    let text = SANDBOX.replace("\"222222222222\"", "\"22222\"");
    let (field, message) = error_of(parse(&text));
    assert_eq!(field, "dr.account_id");
    assert!(message.contains("12 digits"), "{message}");
}

#[test]
fn a_missing_region_names_the_field() {
    let text = SANDBOX.replace("region = \"us-east-1\"\n", "");
    let (field, message) = error_of(parse(&text));
    assert_eq!(field, "primary.region");
    assert!(message.contains("missing field `region`"), "{message}");
}

#[test]
fn an_unknown_key_is_an_error_not_a_silent_default() {
    let text = SANDBOX.replace("[replication]\n", "[replication]\ntopik = \"oops\"\n");
    let (field, message) = error_of(parse(&text));
    assert_eq!(field, "replication.topik");
    assert!(message.contains("unknown field `topik`"), "{message}");
}

#[test]
fn primary_and_dr_in_the_same_account_and_region_is_refused() {
    let text = SANDBOX
        .replace("222222222222", "111111111111")
        .replace("us-west-2", "us-east-1");
    let (field, message) = error_of(parse(&text));
    assert_eq!(field, "dr");
    assert!(message.contains("another account"), "{message}");
}

#[test]
fn one_account_in_two_regions_needs_two_snapshot_key_aliases() {
    let one_account = SANDBOX.replace("222222222222", "111111111111");
    let (field, message) = error_of(parse(&one_account));
    assert_eq!(field, "snapshots.dr_kms_key");
    assert!(message.contains("another alias"), "{message}");
    let distinct = one_account.replace(
        "dr_kms_key = \"alias/dr-snapshots\"",
        "dr_kms_key = \"alias/dr-snapshots-dr\"",
    );
    parse(&distinct).unwrap();
}

#[test]
fn timeouts_are_per_caller_and_checked() {
    let text = format!("{SANDBOX}\n[timeouts.drctl]\noperation_ms = 9000\n");
    let topology = parse(&text).unwrap();
    assert_eq!(
        topology.timeouts_of("drctl").operation,
        std::time::Duration::from_secs(9)
    );
    assert_eq!(
        topology.timeouts_of("reconciler"),
        crate::CallTimeouts::defaults_for("reconciler")
    );
    let env = parse_with_env(
        SANDBOX,
        &[("DRCTL__TIMEOUTS__CERT_REPLICATOR__OPERATION_MS", "17000")],
    )
    .unwrap();
    assert_eq!(
        env.timeouts_of("cert-replicator").operation,
        std::time::Duration::from_secs(17)
    );
    let (field, _) = error_of(parse(&format!(
        "{SANDBOX}\n[timeouts.nobody]\nconnect_ms = 1\n"
    )));
    assert_eq!(field, "timeouts.nobody");
    let (field, message) = error_of(parse(&format!(
        "{SANDBOX}\n[timeouts.drctl]\nattempt_ms = 9000\n"
    )));
    assert_eq!(field, "timeouts.drctl");
    assert!(message.contains("must not exceed"), "{message}");
}

#[test]
fn the_sandbox_names_its_world_and_principal() {
    let topology = parse(SANDBOX).unwrap();
    let sandbox = topology.sandbox.unwrap();
    assert_eq!(sandbox.access_key_id(), "sandbox:default:operator");
    let env = parse_with_env(
        SANDBOX,
        &[
            ("DRCTL__SANDBOX__WORLD", "t-1"),
            ("DRCTL__SANDBOX__PRINCIPAL", "function:cert-capture"),
        ],
    )
    .unwrap();
    assert_eq!(
        env.sandbox.unwrap().access_key_id(),
        "sandbox:t-1:function:cert-capture"
    );
    let (field, _) = error_of(parse_with_env(
        SANDBOX,
        &[("DRCTL__SANDBOX__PRINCIPAL", "function:nope")],
    ));
    assert_eq!(field, "sandbox.principal");
}

#[test]
fn a_role_of_the_wrong_account_is_refused() {
    let text = SANDBOX.replace(
        "arn:aws:iam::222222222222:role/",
        "arn:aws:iam::111111111111:role/",
    );
    let (field, message) = error_of(parse(&text));
    assert_eq!(field, "dr.role_arn");
    assert!(
        message.contains("belongs to account 111111111111"),
        "{message}"
    );
}

#[test]
fn environment_overrides_win_and_are_validated() {
    let topology = parse_with_env(
        SANDBOX,
        &[("DRCTL__DR__REGION", "eu-west-1"), ("OTHER", "x")],
    )
    .unwrap();
    assert_eq!(topology.dr.region.as_str(), "eu-west-1");

    let err = parse_with_env(SANDBOX, &[("DRCTL__PRIMARY__ACCOUNT_ID", "nope")]).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("primary.account_id"), "{text}");
    assert!(text.contains("overrides"), "{text}");

    let (field, _) = error_of(parse_with_env(SANDBOX, &[("DRCTL__PRIMARY__TYPO", "x")]));
    assert_eq!(field, "primary.typo");
}

#[test]
fn numeric_values_are_overridden_as_numbers_and_checked() {
    let topology =
        parse_with_env(SANDBOX, &[("DRCTL__RECONCILE__MAX_CALLS_PER_SECOND", "25")]).unwrap();
    assert_eq!(topology.reconcile.max_calls_per_second, 25.0);
    let (field, _) = error_of(parse_with_env(
        SANDBOX,
        &[("DRCTL__RECONCILE__MAX_CALLS_PER_SECOND", "0")],
    ));
    assert_eq!(field, "reconcile.max_calls_per_second");
    let (field, _) = error_of(parse_with_env(
        SANDBOX,
        &[("DRCTL__RECONCILE__PAGE_SIZE", "251")],
    ));
    assert_eq!(field, "reconcile.page_size");
    let paced = parse_with_env(
        SANDBOX,
        &[("DRCTL__RECONCILE__MAX_PAGES_PER_INVOCATION", "2")],
    )
    .unwrap();
    assert_eq!(paced.reconcile.max_pages_per_invocation, Some(2));
    let error = parse_with_env(
        SANDBOX,
        &[("DRCTL__RECONCILE__MAX_CALLS_PER_SECOND", "fast")],
    )
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("DRCTL__RECONCILE__MAX_CALLS_PER_SECOND"),
        "{error}"
    );
}

#[test]
fn syntax_errors_say_where() {
    let err = parse("[primary\naccount_id = 1").unwrap_err().to_string();
    assert!(err.contains("test.toml is not valid TOML"), "{err}");
    assert!(err.contains("line 1"), "{err}");
}

#[test]
fn a_drill_record_equal_to_production_is_refused() {
    let text = SANDBOX.replace("drill.iot.example.com", "iot.example.com");
    let (field, _) = error_of(parse(&text));
    assert_eq!(field, "dns.drill_record");
}

#[test]
fn probes_parse_by_kind_and_the_quorum_must_fit_them() {
    let with_probes = format!(
        "{SANDBOX}\n{}",
        r#"
[[failover.probes]]
kind = "tls"
host = "127.0.0.1"
port = 8883
server_name = "iot.example.com"

[[failover.probes]]
kind = "alarm"
alarm_names = ["iot-connect-errors"]
"#
    );
    let topology = parse_with_env(&with_probes, &[]).unwrap();
    assert_eq!(topology.failover.probes.len(), 2);
    assert!(matches!(
        &topology.failover.probes[0],
        ProbeConfig::Tls {
            port: 8883,
            timeout_ms: 3_000,
            ..
        }
    ));
    assert_eq!(topology.failover.settings().quorum, None);
    let (field, _) = error_of(parse_with_env(
        &with_probes,
        &[("DRCTL__FAILOVER__QUORUM", "3")],
    ));
    assert_eq!(field, "failover.quorum");
    let (field, _) = error_of(parse_with_env(
        SANDBOX,
        &[("DRCTL__DNS__DR_TARGET", "primary.iot.example.com")],
    ));
    assert_eq!(field, "dns.dr_target");
}

#[test]
fn a_probe_may_not_reach_primary_through_the_name_the_switch_flips() {
    // SNI with the custom domain is fine (it resolves nothing); connecting to it is not.
    let probe = |lines: &str| format!("{SANDBOX}\n[[failover.probes]]\n{lines}\n");
    assert!(parse(&probe(
        "kind = \"tls\"\nhost = \"127.0.0.1\"\nport = 8883\nserver_name = \"iot.example.com\""
    ))
    .is_ok());
    for (lines, host) in [
        (
            "kind = \"tls\"\nhost = \"iot.example.com\"\nport = 8883",
            "iot.example.com",
        ),
        (
            "kind = \"tls\"\nhost = \"IOT.Example.com.\"\nport = 443",
            "IOT.Example.com.",
        ),
        (
            "kind = \"https\"\nurl = \"https://iot.example.com:443/health\"",
            "iot.example.com",
        ),
    ] {
        let (field, message) = error_of(parse(&probe(lines)));
        assert_eq!(field, "failover.probes[0]", "{lines}");
        assert!(
            message.contains(&format!(
                "connects to {host}, the name the failover switch flips"
            )),
            "{message}"
        );
    }
}

#[test]
fn a_drill_canary_must_connect_as_a_device() {
    let canary = |kind: &str, extra: &str| {
        format!(
            "{SANDBOX}\n[drill.canary]\nkind = \"{kind}\"\nhost = \"127.0.0.1\"\nport = 8883\n{extra}"
        )
    };
    let mqtt = canary(
        "mqtt",
        "client_cert_file = \"c.pem\"\nclient_key_file = \"k.pem\"\nclient_id = \"dr-canary\"\n",
    );
    let topology = parse_with_env(&mqtt, &[]).unwrap();
    assert!(matches!(
        topology.drill.canary,
        Some(ProbeConfig::Mqtt { .. })
    ));
    let (field, message) = error_of(parse_with_env(&canary("tls", ""), &[]));
    assert_eq!(field, "drill.canary", "{message}");
    assert_eq!(parse_with_env(SANDBOX, &[]).unwrap().drill.canary, None);
}

#[test]
fn a_snapshot_key_is_a_customer_key_in_the_dr_region() {
    // An AWS-managed key cannot be shared with DR: said so, with the fix.
    let managed = SANDBOX.replace(
        "regional_kms_key = \"alias/dr-snapshots\"",
        "regional_kms_key = \"alias/aws/rds\"",
    );
    let (field, message) = error_of(parse(&managed));
    assert_eq!(field, "snapshots.regional_kms_key");
    assert!(message.contains("AWS-managed"), "{message}");
    // A key ARN must name the side's own account and the DR region, where copies are made.
    let arn = |account: &str, region: &str| {
        SANDBOX.replace(
            "dr_kms_key = \"alias/dr-snapshots\"",
            &format!(
                "dr_kms_key = \"arn:aws:kms:{region}:{account}:key/0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d\""
            ),
        )
    };
    parse(&arn("222222222222", "us-west-2")).unwrap();
    for wrong in [
        arn("111111111111", "us-west-2"),
        arn("222222222222", "us-east-1"),
    ] {
        let (field, message) = error_of(parse(&wrong));
        assert_eq!(field, "snapshots.dr_kms_key");
        assert!(
            message.contains("account 222222222222, region us-west-2"),
            "{message}"
        );
    }
}

#[test]
fn a_global_secondary_is_for_an_aurora_cluster_named_as_rds_allows() {
    const REPLICATION: &str = "[snapshots.databases.backup_replication]\nretention_days = 7\n";
    // The sandbox's database, as a cluster (or not) with a global secondary in place of its
    // replicated backups (instances only).
    let with = |kind: &str, secondary: &str| {
        SANDBOX
            .replace(
                "identifier = \"fleetdb\"\nkind = \"instance\"",
                &format!("identifier = \"fleetcl\"\nkind = \"{kind}\"\ninstances = 2"),
            )
            .replace(
                REPLICATION,
                &format!("[snapshots.databases.global_secondary]\n{secondary}\n# "),
            )
    };
    assert!(SANDBOX.contains(REPLICATION));
    let topology = parse(&with("cluster", "cluster = \"fleetcl-dr\"")).unwrap();
    let (_, policy) = topology.snapshot_policies().remove(0);
    let secondary = policy.global_secondary.expect("configured");
    assert_eq!(
        (secondary.cluster.as_str(), secondary.instances),
        ("fleetcl-dr", 2)
    );

    let (field, message) = error_of(parse(&with("cluster", "cluster = \"fleetcl--dr\"")));
    assert_eq!(field, "snapshots.databases[0].global_secondary.cluster");
    assert!(message.contains("hyphens"), "{message}");

    let (field, message) = error_of(parse(&with("instance", "cluster = \"fleetcl-dr\"")));
    assert_eq!(field, "snapshots.databases[0].global_secondary");
    assert!(message.contains("Aurora clusters only"), "{message}");
}

#[test]
fn the_fleet_s_settings_are_checked_against_what_aws_iot_allows() {
    let topology = parse(SANDBOX).unwrap();
    assert_eq!(topology.fleet.keep_alive_seconds, 60);
    assert_eq!(topology.objectives.rto_seconds, Some(600));
    // Left out, the fleet is the CRT SDKs' (the slow case) and no objective is judged.
    assert_eq!(FleetConfig::default().keep_alive_seconds, 1_200);
    assert_eq!(ObjectivesConfig::default().rto_seconds, None);

    for (env, field) in [
        (
            "DRCTL__FLEET__KEEP_ALIVE_SECONDS",
            "fleet.keep_alive_seconds",
        ),
        (
            "DRCTL__FLEET__PING_TIMEOUT_SECONDS",
            "fleet.ping_timeout_seconds",
        ),
        (
            "DRCTL__OBJECTIVES__RTO_FLEET_PERCENT",
            "objectives.rto_fleet_percent",
        ),
    ] {
        let (named, message) = error_of(parse_with_env(SANDBOX, &[(env, "1500")]));
        assert_eq!(named, field, "{message}");
    }
    let (named, _) = error_of(parse_with_env(
        SANDBOX,
        &[("DRCTL__FLEET__BACKOFF__CAP_MS", "10")],
    ));
    assert_eq!(named, "fleet.backoff");
    // A declared fleet size arrives from the environment as text.
    let sized = parse_with_env(SANDBOX, &[("DRCTL__FLEET__DEVICES", "250000")]).unwrap();
    assert_eq!(sized.fleet.devices, Some(250_000));
}
