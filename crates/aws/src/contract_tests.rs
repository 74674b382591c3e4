//! The contract's content, and the committed fixtures the CDK app's tests read.

use std::path::{Path, PathBuf};

use super::*;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn parse(file: &str, env: &[(&str, &str)]) -> Topology {
    let text = std::fs::read_to_string(repo().join(file)).unwrap();
    Topology::parse(
        &text,
        file,
        env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    )
    .unwrap()
}

/// Where the CDK app's tests read their contracts.
const FIXTURES_DIR: &str = "infra/test/fixtures";

/// The configs whose contracts are committed for the CDK app's tests, and where: the sandbox
/// config's as `contract.json`, each `<name>.toml` of the fixtures' own as
/// `contract-<name>.json` (what `make contract-fixtures` writes).
fn fixtures() -> Vec<(String, String)> {
    let mut fixtures = vec![(
        "config/sandbox.toml".to_owned(),
        format!("{FIXTURES_DIR}/contract.json"),
    )];
    let mut own: Vec<String> = std::fs::read_dir(repo().join(FIXTURES_DIR))
        .unwrap()
        .filter_map(|entry| entry.unwrap().file_name().into_string().ok())
        .filter_map(|file| file.strip_suffix(".toml").map(str::to_owned))
        .collect();
    own.sort();
    fixtures.extend(own.into_iter().map(|name| {
        (
            format!("{FIXTURES_DIR}/{name}.toml"),
            format!("{FIXTURES_DIR}/contract-{name}.json"),
        )
    }));
    fixtures
}

#[test]
fn the_contract_carries_its_version_and_every_section() {
    let contract = export(&parse("config/sandbox.toml", &[])).unwrap();
    assert_eq!(contract["schema_version"], SCHEMA_VERSION);
    // Sorted: whether serde_json keeps insertion order depends on the features the build unifies.
    let mut keys: Vec<&str> = contract
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "functions",
            "lambda_config",
            "names",
            "schema_version",
            "serving_alarm",
            "snapshot_policies",
            "topology"
        ]
    );
    for section in [
        "primary",
        "dr",
        "replication",
        "failover",
        "dns",
        "snapshots",
    ] {
        assert!(contract["topology"][section].is_object(), "{section}");
    }
    for section in ["reconcile", "drill", "sandbox"] {
        assert!(contract["topology"][section].is_object(), "{section}");
    }
}

#[test]
fn each_database_policy_has_the_section_defaults_applied() {
    // Given the production-shaped config: fleetdb takes [snapshots]'s defaults, the Aurora
    // cluster sets its own interval
    let contract = export(&parse("infra/test/fixtures/production.toml", &[])).unwrap();
    let policies = contract["snapshot_policies"].as_array().unwrap();
    let fleetdb = &policies[0];
    assert_eq!(fleetdb["database"], "fleetdb");
    assert_eq!(fleetdb["kind"], "instance");
    assert_eq!(fleetdb["interval_ms"], 240 * 60_000);
    assert_eq!(fleetdb["keep_count"], 7);
    assert_eq!(fleetdb["restore"]["subnet_group"], "fleet-dr");
    assert_eq!(
        fleetdb["backup_replication"]["restore"]["subnet_group"],
        "fleet-pitr"
    );
    let aurora = &policies[1];
    assert_eq!(aurora["kind"], "cluster");
    assert_eq!(aurora["interval_ms"], 60 * 60_000);
    assert_eq!(aurora["backup_replication"], serde_json::Value::Null);
    // The raw section keeps what the file says: unset is unset there.
    assert_eq!(
        contract["topology"]["snapshots"]["databases"][0]["interval_minutes"],
        serde_json::Value::Null
    );
}

#[test]
fn overrides_reach_every_derived_name() {
    // Given an override, as drctl and every Lambda read it
    let t = parse(
        "config/sandbox.toml",
        &[
            ("DRCTL__REPLICATION__TOPIC", "other-topic"),
            ("DRCTL__DR__ACCOUNT_ID", "333333333333"),
            (
                "DRCTL__DR__ROLE_ARN",
                "arn:aws:iam::333333333333:role/dr-control-plane",
            ),
        ],
    );
    let contract = export(&t).unwrap();
    let names = &contract["names"];
    assert_eq!(
        names["replication_topic_arn"],
        "arn:aws:sns:us-west-2:333333333333:other-topic.fifo"
    );
    assert_eq!(
        names["dead_letter_queue_arn"],
        "arn:aws:sqs:us-west-2:333333333333:dr-cert-replication-dlq.fifo"
    );
    assert_eq!(
        names["operator_topic_arn"],
        "arn:aws:sns:us-west-2:333333333333:dr-operators"
    );
    assert_eq!(
        contract["serving_alarm"]["alarm_name"],
        "iot-dr-primary-serving-iot.example.com"
    );
    // And the Lambdas get the same values in their config file
    let deployed = Topology::parse(
        contract["lambda_config"]["toml"].as_str().unwrap(),
        "lambda config",
        std::iter::empty(),
    )
    .unwrap();
    assert_eq!(deployed.replication.topic.as_str(), "other-topic");
    assert_eq!(deployed.dr.account_id.as_str(), "333333333333");
}

#[test]
fn the_lambdas_config_is_the_topology_without_the_sandbox() {
    for (config, _) in fixtures() {
        let t = parse(&config, &[]);
        let contract = export(&t).unwrap();
        let text = contract["lambda_config"]["toml"].as_str().unwrap();
        assert_eq!(contract["lambda_config"]["variable"], "DRCTL_CONFIG");
        assert!(
            !text.contains("[sandbox]") && !text.contains("127.0.0.1"),
            "{text}"
        );
        let deployed = Topology::parse(text, "lambda config", std::iter::empty()).unwrap();
        assert_eq!(deployed, Topology { sandbox: None, ..t });
    }
}

#[test]
fn every_function_is_listed_with_the_roles_it_runs_with() {
    let contract = export(&parse("config/sandbox.toml", &[])).unwrap();
    let functions = contract["functions"].as_array().unwrap();
    let listed: Vec<&str> = functions
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(listed, dr_core::FUNCTIONS);
    let capture = &functions[0];
    assert_eq!(capture["home"], "primary");
    assert_eq!(capture["sides_used"], serde_json::json!(["primary"]));
    assert_eq!(capture["function_name"], "iot-dr-cert-capture");
    assert_eq!(
        capture["side_roles"],
        serde_json::json!([{
            "side": "primary",
            "name": "iot-dr-cert-capture-primary",
            "arn": "arn:aws:iam::111111111111:role/iot-dr-cert-capture-primary",
        }])
    );
    // It never calls DR: the config's role stays, never assumed.
    assert_eq!(
        capture["role_overrides"],
        serde_json::json!({
            "DRCTL__DR__ROLE_ARN": "arn:aws:iam::222222222222:role/dr-control-plane",
            "DRCTL__PRIMARY__ROLE_ARN": "arn:aws:iam::111111111111:role/iot-dr-cert-capture-primary",
        })
    );
}

#[test]
fn a_key_named_by_arn_is_not_created() {
    let t = parse(
        "config/sandbox.toml",
        &[(
            "DRCTL__SNAPSHOTS__DR_KMS_KEY",
            "arn:aws:kms:us-west-2:222222222222:key/0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
        )],
    );
    let names = &export(&t).unwrap()["names"];
    assert_eq!(names["dr_snapshot_key_alias"], serde_json::Value::Null);
    assert_eq!(names["regional_snapshot_key_alias"], "alias/dr-snapshots");
}

#[test]
fn the_committed_fixtures_are_what_the_code_exports_now() {
    let fixtures = fixtures();
    for (config, fixture) in &fixtures {
        let now = render(&parse(config, &[])).unwrap();
        let committed = std::fs::read_to_string(repo().join(fixture)).unwrap_or_default();
        if now == committed {
            continue;
        }
        let difference = now
            .lines()
            .zip(committed.lines().chain(std::iter::repeat("<end of file>")))
            .enumerate()
            .find(|(_, (a, b))| a != b)
            .map_or_else(
                || "the committed file is longer".to_owned(),
                |(i, (a, b))| {
                    format!(
                        "line {}: exported {:?}, committed {:?}",
                        i + 1,
                        a.trim(),
                        b.trim()
                    )
                },
            );
        panic!(
            "{fixture} is not the contract the code exports for {config} ({difference}); \
             the CDK app's tests would test a stale contract. Regenerate it with \
             `make contract-fixtures` (that is, with no DRCTL__ variables set: \
             drctl --config {config} config export --json > {fixture})"
        );
    }
    // A contract whose config is gone would be tested against nothing the code exports.
    for entry in std::fs::read_dir(repo().join(FIXTURES_DIR)).unwrap() {
        let file = format!(
            "{FIXTURES_DIR}/{}",
            entry.unwrap().file_name().to_string_lossy()
        );
        assert!(
            !file.ends_with(".json") || fixtures.iter().any(|(_, fixture)| *fixture == file),
            "{file} is no config's contract: delete it, or add the config it came from"
        );
    }
}
