//! Both real Lambda binaries, run through the Lambda Runtime API that cargo-lambda emulates
//! (`cargo lambda watch --only-lambda-apis`, one emulator per function), against the sandbox.
//! The harness plays what AWS wires up: EventBridge invoking capture with a CloudTrail
//! event, and the SQS event source mapping turning queue messages into an SQS event for the
//! replicator and honouring its partial batch response.

use std::path::PathBuf;

use aws_sdk_iot::types::CertificateStatus as SdkStatus;
use dr_core::replication::CertificateRegistry;
use dr_core::{CertificateStatus, Side};
use dr_sandbox::fleet::LambdaPaths;
use dr_sandbox::local_lambda::{LocalFunction, SqsEventSource};
use serde_json::{json, Value};

use crate::helpers::unique;
use crate::pipeline::{Device, Pipeline};

/// A built Lambda binary behind its own Runtime API emulator (see
/// `dr_sandbox::local_lambda`); test failures panic with the reason.
struct Function(LocalFunction);

/// The checkout cargo runs this test in. Read at run time, not with `env!`: a target directory
/// shared between clones (CI's and this one) may hold a binary compiled in the other checkout.
pub(crate) fn repo_root() -> PathBuf {
    PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("run by cargo")).join("..")
}

/// The directory cargo put this test binary's sibling binaries in (target/debug).
pub(crate) fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe.parent().unwrap().parent().unwrap().join(name);
    assert!(
        path.exists(),
        "{} not built; run `cargo build --workspace --bins` (make test does)",
        path.display()
    );
    path
}

/// Where the Lambda binaries and cargo-lambda are, for `dr_sandbox`.
pub(crate) fn lambda_paths() -> LambdaPaths {
    LambdaPaths::new(binary("drctl").parent().unwrap())
}

impl Function {
    /// Start `name` with `env`, holding the roles the CDK app gives it in `topology`'s world.
    async fn start(name: &str, topology: &dr_core::Topology, env: &[(String, String)]) -> Self {
        Self(lambda_paths().start(name, topology, env).await.unwrap())
    }

    /// Invoke synchronously, as Lambda's Invoke API does.
    async fn invoke(&self, payload: &Value) -> Value {
        self.0.invoke(payload).await.unwrap()
    }
}

/// Environment the Lambdas get: the topology as DRCTL__ variables, as CDK sets them.
pub(crate) fn lambda_env(p: &Pipeline) -> Vec<(String, String)> {
    let t = &p.topology;
    let config = repo_root().join("config/sandbox.toml");
    vec![
        ("DRCTL_CONFIG".into(), config.display().to_string()),
        (
            "DRCTL__SANDBOX__ENDPOINT".into(),
            t.sandbox.as_ref().unwrap().endpoint.to_string(),
        ),
        (
            "DRCTL__REPLICATION__TOPIC".into(),
            t.replication.topic.to_string(),
        ),
        (
            "DRCTL__REPLICATION__QUEUE".into(),
            t.replication.queue.to_string(),
        ),
        (
            "DRCTL__REPLICATION__SHADOW_TOPIC".into(),
            t.replication.shadow_topic.to_string(),
        ),
        (
            "DRCTL__REPLICATION__SHADOW_QUEUE".into(),
            t.replication.shadow_queue.to_string(),
        ),
        (
            "DRCTL__REPLICATION__DEAD_LETTER_QUEUE".into(),
            t.replication.dead_letter_queue.to_string(),
        ),
        (
            "DRCTL__REPLICATION__LEDGER_TABLE".into(),
            t.replication.ledger_table.to_string(),
        ),
    ]
}

/// One poll of the event source mapping: how many messages the replicator was given.
async fn deliver_queue_to(replicator: &Function, p: &Pipeline) -> usize {
    let queue = dr_aws::names::replication_queue_name(&p.topology);
    SqsEventSource {
        sqs: p.sqs.clone(),
        queue_url: p.queue_url.clone(),
        queue_arn: dr_aws::names::dr_queue_arn(&p.topology, &queue),
        region: p.topology.dr.region.as_str().to_owned(),
        retry_failures_at_once: false,
    }
    .poll(&replicator.0)
    .await
    .unwrap()
    .delivered
}

#[tokio::test]
async fn both_lambda_binaries_replicate_a_certificate_through_the_runtime_api() {
    let p = Pipeline::new().await;
    let env = lambda_env(&p);
    let capture = Function::start("cert-capture", &p.topology, &env).await;
    let replicator = Function::start("cert-replicator", &p.topology, &env).await;

    let device = Device::self_signed(&unique("e2e-device"));
    let iot = p.session.iot(Side::Primary);
    iot.register_certificate_without_ca()
        .certificate_pem(&device.pem)
        .status(SdkStatus::Active)
        .send()
        .await
        .unwrap();
    let thing = unique("e2e-wearable");
    iot.create_thing().thing_name(&thing).send().await.unwrap();
    iot.attach_thing_principal()
        .thing_name(&thing)
        .principal(p.primary.certificate_arn(&device.id))
        .send()
        .await
        .unwrap();

    let mut event: Value = serde_json::from_str(include_str!(
        "../fixtures/events/cloudtrail-AttachThingPrincipal.json"
    ))
    .unwrap();
    event["detail"]["requestParameters"] =
        json!({"thingName": thing, "principal": p.primary.certificate_arn(&device.id)});
    let published = capture.invoke(&event).await;
    assert_eq!(published["published"][0], format!("cert#{}", device.id));

    let mut delivered = 0;
    for _ in 0..20 {
        delivered += deliver_queue_to(&replicator, &p).await;
        if p.dr.certificate(&device.id).await.unwrap().is_some() {
            break;
        }
    }
    assert!(delivered >= 1);
    let in_dr =
        p.dr.certificate(&device.id)
            .await
            .unwrap()
            .expect("replicated to DR");
    assert_eq!(in_dr.status, CertificateStatus::Active);
    assert_eq!(in_dr.pem, device.pem);
    let things = p.dr.certificate_things(&device.id).await.unwrap();
    assert!(things.iter().any(|t| t.as_str() == thing), "{things:?}");

    // A poison message through the real binary goes to the DLQ at once, with its reason,
    // and leaves the replication queue (no four more receives first). One carrying a private
    // key goes there without its body.
    p.send_raw("poison", "{not json").await;
    let with_key = std::fs::read_to_string(
        repo_root().join("tests/fixtures/bad-inputs/messages/private-key.json"),
    )
    .unwrap();
    p.send_raw("poison-key", &with_key).await;
    deliver_queue_to(&replicator, &p).await;
    let counts = p
        .sqs
        .get_queue_attributes()
        .queue_url(&p.queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(
            aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
        )
        .send()
        .await
        .unwrap();
    let queued: u64 = counts
        .attributes()
        .into_iter()
        .flat_map(|a| a.values())
        .map(|v| v.parse::<u64>().unwrap())
        .sum();
    assert_eq!(
        queued, 0,
        "the poison message was deleted from the replication queue"
    );
    let parked = p
        .sqs
        .receive_message()
        .queue_url(&p.dlq_url)
        .max_number_of_messages(10)
        .message_attribute_names("All")
        .send()
        .await
        .unwrap();
    let reason_of = |letter: &aws_sdk_sqs::types::Message| {
        letter
            .message_attributes()
            .and_then(|a| a.get(dr_aws::dlq::REASON_ATTRIBUTE))
            .and_then(|v| v.string_value())
            .unwrap_or_default()
            .to_owned()
    };
    let [first, second] = parked.messages() else {
        panic!("two messages in the DLQ: {parked:?}");
    };
    let (not_json, key) = if first.body() == Some("{not json") {
        (first, second)
    } else {
        (second, first)
    };
    assert_eq!(not_json.body(), Some("{not json"));
    assert!(reason_of(not_json).starts_with("refused: "), "{not_json:?}");
    // Compared as JSON: the binary and this test may be built with serde_json's key order
    // (preserve_order) set differently.
    let json = |body: &str| serde_json::from_str::<Value>(body).unwrap();
    assert_eq!(
        key.body().map(json),
        Some(json(&dr_core::replication::service::withheld_body(
            &with_key
        ))),
        "a private key is not kept in the DLQ"
    );
    assert!(reason_of(key).contains("PRIVATE KEY"), "{key:?}");
}

#[tokio::test]
async fn the_reconciler_binary_repairs_what_dr_lost_across_invocations_from_its_checkpoint() {
    // Its own sandbox: the reconciler lists whole registries.
    let log = std::env::temp_dir().join(format!("{}.log", unique("reconciler-e2e")));
    let server = dr_sandbox::SandboxServer::start(&dr_sandbox::LauncherPaths::from_build(), &log)
        .await
        .unwrap();
    let p = Pipeline::on(server.endpoint()).await;
    // A "fleet too large for one invocation": pages of 2, one deep page per invocation.
    let mut env = lambda_env(&p);
    env.push(("DRCTL__RECONCILE__PAGE_SIZE".into(), "2".into()));
    env.push((
        "DRCTL__RECONCILE__MAX_PAGES_PER_INVOCATION".into(),
        "1".into(),
    ));
    let reconciler = Function::start("reconciler", &p.topology, &env).await;

    // Registered in primary while replication was down: DR never heard of them.
    let devices: Vec<Device> = (0..3)
        .map(|i| Device::self_signed(&unique(&format!("lost-device-{i}"))))
        .collect();
    for device in &devices {
        p.session
            .iot(Side::Primary)
            .register_certificate_without_ca()
            .certificate_pem(&device.pem)
            .status(SdkStatus::Active)
            .send()
            .await
            .unwrap();
    }
    // And one revoked in primary whose revocation DR missed: still ACTIVE there.
    let stolen = Device::self_signed(&unique("stolen-device"));
    for (side, status) in [
        (Side::Primary, SdkStatus::Revoked),
        (Side::Dr, SdkStatus::Active),
    ] {
        p.session
            .iot(side)
            .register_certificate_without_ca()
            .certificate_pem(&stolen.pem)
            .status(status)
            .send()
            .await
            .unwrap();
    }

    // The first invocation's status pass (none recorded yet: due) repairs all of it from the
    // two listings alone, revocation first.
    let scheduled = json!({"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}});
    let first = reconciler.invoke(&scheduled).await;
    let status = &first["status_pass"];
    assert_eq!(
        (
            status["missing"].as_u64(),
            status["wrong_status"].as_u64(),
            status["repaired"].as_u64(),
            status["completed_ms"].is_i64(),
        ),
        (Some(3), Some(1), Some(4), true),
        "{first}"
    );
    let revoked = p.dr.certificate(&stolen.id).await.unwrap().expect("in DR");
    assert_eq!(
        revoked.status,
        CertificateStatus::Revoked,
        "the revocation reached DR"
    );
    for device in &devices {
        let in_dr =
            p.dr.certificate(&device.id)
                .await
                .unwrap()
                .expect("repaired into DR");
        assert_eq!(in_dr.status, CertificateStatus::Active);
    }
    // The deep pass walks behind it, one page per invocation from its checkpoint, and
    // finds nothing left to repair; the next status pass is not due for an hour.
    assert_eq!(
        (
            first["repaired"].as_u64(),
            first["passes_completed"].as_u64()
        ),
        (Some(0), Some(0)),
        "{first}"
    );
    let mut completed = Vec::new();
    for _ in 0..3 {
        let next = reconciler.invoke(&scheduled).await;
        assert!(next["status_pass"].is_null(), "not due again: {next}");
        assert_eq!(next["repaired"], 0, "{next}");
        completed.push(next["passes_completed"].as_u64());
        if completed.last() == Some(&Some(1)) {
            assert_eq!(next["cursor"]["phase"], "source", "{next}");
            assert!(
                next["cursor"]["last_status_pass"]["started_ms"].is_i64(),
                "both tiers' freshness kept: {next}"
            );
        }
    }
    // Source (4 certificates) and extras (4 in DR) phases: two pages each.
    assert_eq!(completed, [Some(0), Some(0), Some(1)]);

    let again = reconciler.invoke(&scheduled).await;
    assert_eq!(again["missing"], 0, "{again}");
    drop(reconciler);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn the_snapshot_controller_binary_drives_a_snapshot_into_dr() {
    let p = Pipeline::new().await;
    let database = unique("fleetdb");
    // The controller may snapshot protected databases only: provision the world again with
    // this one protected (the CDK app grants CreateDBSnapshot on those).
    let mut topology = p.topology.clone();
    topology.snapshots.databases[0].identifier = database.parse().unwrap();
    dr_sandbox::provision(&topology).await.unwrap();
    dr_sandbox::provision::snapshots::ensure_instance(&p.session, &topology, &database)
        .await
        .unwrap();
    let mut env = lambda_env(&p);
    // One database of its own: the config file's `fleetdb` entry is replaced.
    let config = std::env::temp_dir().join(format!("{}.toml", unique("snapshot-config")));
    let text = include_str!("../../config/sandbox.toml").replace(
        "identifier = \"fleetdb\"",
        &format!("identifier = \"{database}\""),
    );
    std::fs::write(&config, text).unwrap();
    env.retain(|(k, _)| k != "DRCTL_CONFIG");
    env.push(("DRCTL_CONFIG".into(), config.display().to_string()));
    let controller = Function::start("snapshot-controller", &topology, &env).await;

    let scheduled = json!({"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}});
    let mut last = Value::Null;
    for _ in 0..5 {
        last = controller.invoke(&scheduled).await;
        if last["databases"][0]["newest_restorable"].is_string() {
            break;
        }
    }
    let database_report = &last["databases"][0];
    assert_eq!(database_report["database"], database.as_str(), "{last}");
    assert!(database_report["newest_restorable"].is_string(), "{last}");
    assert!(
        database_report["rpo_seconds"]
            .as_f64()
            .is_some_and(|s| s < 3600.0),
        "{last}"
    );
    let _ = std::fs::remove_file(config);
}

#[tokio::test]
async fn the_health_checker_binary_fails_over_when_the_primary_endpoint_stops() {
    use dr_core::failover::RunbookKind;

    let mut endpoint = crate::primary_endpoint::PrimaryEndpoint::start().await;
    let world = crate::failover::World::new(&endpoint, dr_core::FlipMode::DataPlane).await;
    let t = &world.topology;
    // Probes are a list, which only a config file can carry.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("health-checker.toml");
    let probe = format!(
        "\n[[failover.probes]]\nkind = \"tls\"\nhost = \"127.0.0.1\"\nport = {}\nserver_name = \"{}\"\nca_file = \"{}\"\ntimeout_ms = 2000\n",
        endpoint.port,
        crate::primary_endpoint::SERVER_NAME,
        endpoint.ca_file.display()
    );
    std::fs::write(
        &config,
        std::fs::read_to_string(repo_root().join("config/sandbox.toml")).unwrap() + &probe,
    )
    .unwrap();
    let env: Vec<(String, String)> = [
        ("DRCTL_CONFIG", config.display().to_string()),
        (
            "DRCTL__SANDBOX__ENDPOINT",
            t.sandbox.as_ref().unwrap().endpoint.to_string(),
        ),
        (
            "DRCTL__FAILOVER__STATE_TABLE",
            t.failover.state_table.to_string(),
        ),
        (
            "DRCTL__FAILOVER__OPERATOR_TOPIC",
            t.failover.operator_topic.to_string(),
        ),
        ("DRCTL__FAILOVER__ROUNDS_PER_INVOCATION", "4".to_owned()),
        ("DRCTL__FAILOVER__ROUND_INTERVAL_SECONDS", "0".to_owned()),
        ("DRCTL__DNS__RECORD", t.dns.record.to_string()),
        ("DRCTL__DNS__DRILL_RECORD", t.dns.drill_record.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let checker = Function::start("health-checker", t, &env).await;
    let scheduled = json!({"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}});

    let healthy = checker.invoke(&scheduled).await;
    let rounds = healthy["rounds"].as_array().expect("rounds");
    assert_eq!(rounds.len(), 4, "{healthy}");
    assert!(
        rounds
            .iter()
            .all(|r| r["down"] == false && r["mode"] == "healthy"),
        "{healthy}"
    );

    endpoint.stop().await;
    let outage = checker.invoke(&scheduled).await;
    let rounds = outage["rounds"].as_array().expect("rounds");
    let decided = rounds
        .iter()
        .position(|r| r["decision"] == "fail-over")
        .unwrap_or_else(|| panic!("no failover: {outage}"));
    let threshold = t.failover.failure_threshold as usize;
    assert!(
        decided < threshold + 1,
        "decided in round {} of the outage",
        decided + 1
    );
    assert_eq!(world.route53_answer().await, Some(Side::Dr));
    let audits = world.audits().await;
    assert_eq!(audits.len(), 1);
    assert_eq!(audits[0].runbook.kind, RunbookKind::Failover);
    assert!(world
        .notifications()
        .await
        .iter()
        .any(|n| n.contains("FAILED OVER to DR")));
    drop(checker);
}

/// A Lambda that fails on IAM tells why in its own log, which the harness keeps: what a
/// test then prints (on a panic, the log's tail) names the AccessDenied, not only that
/// nothing was replicated.
#[tokio::test]
async fn a_lambda_refused_by_iam_says_so_in_the_log_the_harness_keeps() {
    let p = Pipeline::new().await;
    let mut env = lambda_env(&p);
    // A ledger table the reconciler's role may not read: refused at its first call in DR
    // (the checkpoint lives there).
    env.push((
        "DRCTL__REPLICATION__LEDGER_TABLE".into(),
        "someone-elses-table".into(),
    ));
    let reconciler = Function::start("reconciler", &p.topology, &env).await;
    let scheduled = json!({"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}});
    let _ = reconciler.0.invoke(&scheduled).await;
    let tail = reconciler
        .0
        .log_tail(dr_sandbox::local_lambda::LOG_TAIL_LINES);
    assert!(
        tail.contains("not authorized") && tail.contains("someone-elses-table"),
        "the refusal is in the function's log:\n{tail}"
    );
}
