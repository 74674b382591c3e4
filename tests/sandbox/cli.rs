//! `drctl` as an operator runs it: the real binary against the sandbox.

use dr_core::FlipMode;
use serde_json::{json, Value};

use crate::e2e::{binary, repo_root};
use crate::failover::World;
use crate::primary_endpoint::PrimaryEndpoint;

/// Run `drctl` on `t`'s resources (a test's own queues, tables and DNS record).
pub(crate) async fn drctl(t: &dr_core::Topology, args: &[&str]) -> (bool, String, String) {
    drctl_with(&repo_root().join("config/sandbox.toml"), t, args).await
}

/// `drctl` with another config file (for what only a file can carry, like probes).
async fn drctl_with(
    config: &std::path::Path,
    t: &dr_core::Topology,
    args: &[&str],
) -> (bool, String, String) {
    let output = drctl_command(config, t).args(args).output().await.unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// `drctl` on `t`'s resources, with its exit code.
async fn drctl_exit(t: &dr_core::Topology, args: &[&str]) -> (Option<i32>, String, String) {
    let output = drctl_command(&repo_root().join("config/sandbox.toml"), t)
        .args(args)
        .output()
        .await
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// `drctl-sandbox` (the sandbox's own tool) on `t`'s resources.
async fn drctl_sandbox(t: &dr_core::Topology, args: &[&str]) -> (bool, String, String) {
    let output = command_for("drctl-sandbox", &repo_root().join("config/sandbox.toml"), t)
        .args(args)
        .output()
        .await
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn drctl_command(config: &std::path::Path, t: &dr_core::Topology) -> tokio::process::Command {
    command_for("drctl", config, t)
}

pub(crate) fn command_for(
    program: &str,
    config: &std::path::Path,
    t: &dr_core::Topology,
) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(binary(program));
    command
        .current_dir(repo_root())
        .env("DRCTL_CONFIG", config)
        .env(
            "DRCTL__SANDBOX__ENDPOINT",
            t.sandbox.as_ref().unwrap().endpoint.as_str(),
        )
        // The test's IAM world; drctl is the operator there, as on AWS.
        .env(
            "DRCTL__SANDBOX__WORLD",
            t.sandbox.as_ref().unwrap().world.as_str(),
        )
        .env(
            "DRCTL__FAILOVER__STATE_TABLE",
            t.failover.state_table.as_str(),
        )
        .env(
            "DRCTL__FAILOVER__OPERATOR_TOPIC",
            t.failover.operator_topic.as_str(),
        )
        .env("DRCTL__DNS__RECORD", t.dns.record.as_str())
        .env("DRCTL__DNS__DRILL_RECORD", t.dns.drill_record.as_str())
        .env("DRCTL__REPLICATION__TOPIC", t.replication.topic.as_str())
        .env("DRCTL__REPLICATION__QUEUE", t.replication.queue.as_str())
        .env(
            "DRCTL__REPLICATION__SHADOW_TOPIC",
            t.replication.shadow_topic.as_str(),
        )
        .env(
            "DRCTL__REPLICATION__SHADOW_QUEUE",
            t.replication.shadow_queue.as_str(),
        )
        .env(
            "DRCTL__REPLICATION__DEAD_LETTER_QUEUE",
            t.replication.dead_letter_queue.as_str(),
        )
        .env(
            "DRCTL__REPLICATION__LEDGER_TABLE",
            t.replication.ledger_table.as_str(),
        )
        .env("USER", "oncall")
        .kill_on_drop(true);
    command
}

#[tokio::test]
async fn status_shows_a_held_failed_over_fleet_as_a_table_and_as_json() {
    let endpoint = PrimaryEndpoint::start().await;
    let world = World::new(&endpoint, FlipMode::DataPlane).await;
    let (ok, _, stderr) = drctl(
        &world.topology,
        &["failover", "--yes", "--reason", "cli test"],
    )
    .await;
    assert!(ok, "{stderr}");
    let (ok, _, stderr) = drctl(&world.topology, &["hold", "--reason", "investigating"]).await;
    assert!(ok, "{stderr}");

    // Everything read, but a failed-over fleet needs attention: exit 1, saying why.
    let (ok, stdout, stderr) = drctl(&world.topology, &["status", "--output", "json"]).await;
    assert!(
        !ok && stderr.contains("primary is failed-over") && stderr.contains("DR serves traffic"),
        "{stderr}"
    );
    let status: Value = serde_json::from_str(&stdout).unwrap();
    assert!(
        !status["attention"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a.as_str().unwrap().starts_with("unreadable")),
        "{status:#}"
    );
    assert_eq!(status["traffic"]["state_says"], "dr", "{status:#}");
    assert_eq!(status["traffic"]["dns_says"], "dr", "{status:#}");
    assert_eq!(status["health"]["mode"], "failed-over");
    // The hold names the caller STS authenticated, not the shell's `$USER` ("oncall").
    let caller = dr_aws::AwsSession::connect(&world.topology, "test")
        .await
        .caller_arn()
        .await
        .unwrap();
    assert!(caller.starts_with("arn:aws:"), "{caller}");
    assert_eq!(status["health"]["hold"]["by"], caller.as_str());
    assert!(status["certificates"]["primary"].is_object(), "{status:#}");
    assert!(
        status["replication"]["queue"]["waiting"].is_u64(),
        "{status:#}"
    );
    assert!(status["snapshots"].is_array(), "{status:#}");

    let (_, stdout, _) = drctl(&world.topology, &["status"]).await;
    for expected in [
        "TRAFFIC",
        "health checker decided: dr",
        "Route 53 answers:       dr  (PRIMARY's health check",
        format!("HELD by {caller}: investigating").as_str(),
        "REPLICATION",
        "SNAPSHOTS",
    ] {
        assert!(
            stdout.contains(expected),
            "{expected:?} missing from:\n{stdout}"
        );
    }
    // One verdict on where devices go: the alarm's own evaluation is never a second,
    // contradicting line.
    assert!(!stdout.contains("serving alarm:"), "{stdout}");

    // Destructive commands refuse to run unconfirmed from a script.
    let (ok, _, stderr) = drctl(&world.topology, &["failback"]).await;
    assert!(!ok && stderr.contains("--yes"), "{stderr}");
}

#[tokio::test]
async fn dlq_list_says_why_a_message_is_refused_and_replay_moves_it_back() {
    let p = crate::pipeline::Pipeline::new().await;
    p.sqs
        .send_message()
        .queue_url(&p.dlq_url)
        .message_body(r#"{"schema_version": 99}"#)
        .message_group_id("certificate#poison")
        .message_deduplication_id("poison-1")
        .send()
        .await
        .unwrap();

    let (ok, stdout, stderr) = drctl(&p.topology, &["dlq", "list", "--output", "json"]).await;
    assert!(ok, "{stderr}");
    let letters: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(letters.as_array().unwrap().len(), 1, "{letters:#}");
    assert_eq!(letters[0]["group"], "certificate#poison");
    assert_eq!(letters[0]["refused"], true);
    assert!(
        letters[0]["what"].as_str().unwrap().contains("schema"),
        "{letters:#}"
    );

    let (ok, _, stderr) = drctl(&p.topology, &["dlq", "replay", "--yes"]).await;
    assert!(!ok && stderr.contains("--include-refused"), "{stderr}");
    let (ok, stdout, stderr) = drctl(
        &p.topology,
        &["dlq", "replay", "--yes", "--include-refused"],
    )
    .await;
    assert!(ok, "{stderr}");
    assert!(stdout.contains("replayed 1 message(s); 0 left"), "{stdout}");
    let back = p
        .sqs
        .receive_message()
        .queue_url(&p.queue_url)
        .send()
        .await
        .unwrap();
    assert_eq!(back.messages().len(), 1);
    assert_eq!(back.messages()[0].body(), Some(r#"{"schema_version": 99}"#));
}

#[tokio::test]
async fn readiness_passes_on_a_provisioned_world_and_names_a_missing_dlq() {
    // Its own sandbox: readiness looks at every CA and policy of both accounts.
    let log = std::env::temp_dir().join(format!("{}.log", crate::helpers::unique("readiness")));
    let server = dr_sandbox::SandboxServer::start(&dr_sandbox::LauncherPaths::from_build(), &log)
        .await
        .unwrap();
    let p = crate::pipeline::Pipeline::on(server.endpoint()).await;
    // Nothing restorable in DR fails readiness: give the world its first snapshot copy.
    let (ok, _, stderr) = drctl(&p.topology, &["snapshot", "now"]).await;
    assert!(ok, "{stderr}");
    let (ok, stdout, stderr) = drctl(&p.topology, &["readiness"]).await;
    assert!(ok, "{stdout}\n{stderr}");
    // A first deploy: DR could take over, but only by an operator's hand until released.
    assert!(
        stdout.contains("automatic failover: HELD by first-deploy"),
        "{stdout}"
    );

    // A thing group with a policy and a role alias in primary that DR has not seen: both
    // named; once replicated, ready again.
    let iot = p.session.iot(dr_core::Side::Primary);
    let policy = json!({"Version": "2012-10-17", "Statement": []}).to_string();
    iot.create_policy()
        .policy_name("ward-devices")
        .policy_document(&policy)
        .send()
        .await
        .unwrap();
    iot.create_thing_group()
        .thing_group_name("ward-9")
        .send()
        .await
        .unwrap();
    let ward_arn = p.primary.thing_group_arn(&"ward-9".parse().unwrap());
    iot.attach_policy()
        .policy_name("ward-devices")
        .target(&ward_arn)
        .send()
        .await
        .unwrap();
    iot.create_role_alias()
        .role_alias("uploads")
        .role_arn(format!(
            "arn:aws:iam::{}:role/uploads",
            p.topology.primary.account_id
        ))
        .send()
        .await
        .unwrap();
    // An enrolment template naming the ward's policy, with a hook.
    let body = json!({"Resources": {"policy": {"Type": "AWS::IoT::Policy",
        "Properties": {"PolicyName": "ward-devices"}}}});
    iot.create_provisioning_template()
        .template_name("enrol-9")
        .template_body(body.to_string())
        .enabled(true)
        .provisioning_role_arn(format!(
            "arn:aws:iam::{}:role/provisioning",
            p.topology.primary.account_id
        ))
        .pre_provisioning_hook(
            aws_sdk_iot::types::ProvisioningHook::builder()
                .target_arn(format!(
                    "arn:aws:lambda:{}:{}:function:vet",
                    p.topology.primary.region, p.topology.primary.account_id
                ))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let (ok, stdout, _) = drctl(&p.topology, &["readiness", "--output", "json"]).await;
    assert!(!ok);
    let checks: Value = serde_json::from_str(&stdout).unwrap();
    let verdict = |checks: &Value, name: &str| {
        checks["details"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["subject"] == name)
            .unwrap_or_else(|| panic!("{name} in {checks:#}"))
            .clone()
    };
    let groups = verdict(&checks, "thing groups in DR");
    assert_eq!(groups["kind"], "FAIL", "{groups}");
    assert!(
        groups["detail"]
            .as_str()
            .unwrap()
            .contains("ward-9 missing"),
        "{groups}"
    );
    let aliases = verdict(&checks, "role aliases in DR");
    assert!(
        aliases["detail"]
            .as_str()
            .unwrap()
            .contains("uploads missing"),
        "{aliases}"
    );
    let templates = verdict(&checks, "provisioning templates in DR");
    assert!(
        templates["detail"]
            .as_str()
            .unwrap()
            .contains("enrol-9 missing"),
        "{templates}"
    );
    let source = dr_sandbox::events::EventSource {
        account: p.topology.primary.account_id.to_string(),
        region: p.topology.primary.region.to_string(),
    };
    let now = dr_core::time::now_millis();
    for event in [
        source.api_call(
            "CreateThingGroup",
            json!({"thingGroupName": "ward-9"}),
            Value::Null,
            now,
        ),
        source.api_call(
            "AttachPolicy",
            json!({"policyName": "ward-devices", "target": ward_arn}),
            Value::Null,
            now,
        ),
        source.api_call(
            "CreateRoleAlias",
            json!({"roleAlias": "uploads"}),
            Value::Null,
            now,
        ),
        source.api_call(
            "CreateProvisioningTemplate",
            json!({"templateName": "enrol-9"}),
            Value::Null,
            now,
        ),
    ] {
        p.capture(&event).await;
    }
    assert!(p.drain().await.failed.is_empty());
    // The alias reached DR, but the role it names is not in DR's IAM: a device asking the
    // credentials provider for it would be refused there.
    let (kind, detail) = readiness_check(&p.topology, "role aliases in DR").await;
    assert_eq!(kind, "FAIL", "{detail}");
    assert!(
        detail.contains("uploads: role uploads missing in DR's IAM"),
        "{detail}"
    );
    let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"Service": "credentials.iot.amazonaws.com"}, "Action": "sts:AssumeRole"}]});
    p.session
        .iam(dr_core::Side::Dr)
        .create_role()
        .role_name("uploads")
        .assume_role_policy_document(trust.to_string())
        .send()
        .await
        .unwrap();
    // So is the role the enrolment template registers devices with, which IoT assumes.
    let (kind, detail) = readiness_check(&p.topology, "provisioning templates in DR").await;
    assert_eq!(kind, "FAIL", "{detail}");
    assert!(
        detail.contains("enrol-9: role provisioning missing in DR's IAM"),
        "{detail}"
    );
    let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"Service": "iot.amazonaws.com"}, "Action": "sts:AssumeRole"}]});
    p.session
        .iam(dr_core::Side::Dr)
        .create_role()
        .role_name("provisioning")
        .assume_role_policy_document(trust.to_string())
        .send()
        .await
        .unwrap();
    let (ok, stdout, stderr) = drctl(&p.topology, &["readiness"]).await;
    assert!(ok, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("thing groups in DR") && stdout.contains("role aliases in DR"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "their hooks call arn:aws:lambda:{}:{}:function:vet",
            p.topology.dr.region, p.topology.dr.account_id
        )),
        "the hook DR's template calls is named: {stdout}"
    );

    // Primary's region down: "is DR ready?" is asked exactly then. Every check that needs
    // primary says UNKNOWN and why; DR's own verdicts stand; the exit code tells the two
    // apart (4: DR passes, primary not compared).
    {
        use dr_sandbox::fault_proxy::{FaultProxy, OutageMode, OutageScope};
        let proxy = FaultProxy::start(server.endpoint().as_str(), 2)
            .await
            .unwrap();
        let mut t = p.topology.clone();
        t.sandbox.as_mut().unwrap().endpoint = proxy.url().parse().unwrap();
        proxy.set_outage(
            OutageScope::Region {
                region: t.primary.region.to_string(),
            },
            Some(OutageMode::Refuse),
        );
        let (code, stdout, stderr) = drctl_exit(&t, &["readiness"]).await;
        assert_eq!(code, Some(4), "{stdout}\n{stderr}");
        let unknown = format!("primary {} unreachable", t.primary.region);
        for check in [
            "CAs in DR",
            "policies equal modulo ARNs",
            "thing groups in DR",
            "topic rules in DR",
        ] {
            assert!(
                stdout
                    .lines()
                    .any(|l| l.contains("UNKNOWN") && l.contains(check) && l.contains(&unknown)),
                "{check}:\n{stdout}"
            );
        }
        assert!(!stdout.contains("FAIL"), "{stdout}");
        assert!(
            stderr.contains("DR's own checks pass") && stderr.contains("UNKNOWN"),
            "{stderr}"
        );
    }

    p.sqs
        .delete_queue()
        .queue_url(&p.dlq_url)
        .send()
        .await
        .unwrap();
    let (ok, stdout, stderr) = drctl(&p.topology, &["readiness", "--output", "json"]).await;
    assert!(
        !ok && stderr.contains("1 readiness check(s) failed"),
        "{stderr}"
    );
    let checks: Value = serde_json::from_str(&stdout).unwrap();
    let dlq = checks["details"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["subject"] == "replication DLQ")
        .unwrap();
    assert_eq!(dlq["kind"], "FAIL", "{checks:#}");
    assert!(dlq["detail"].as_str().unwrap().contains("missing"), "{dlq}");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_drill_passes_and_reports_then_fails_naming_a_certificate_missing_in_dr() {
    // Its own sandbox: the drill compares whole registries and restores `fleetdb`.
    let log = std::env::temp_dir().join(format!("{}.log", crate::helpers::unique("drill")));
    let server = dr_sandbox::SandboxServer::start(&dr_sandbox::LauncherPaths::from_build(), &log)
        .await
        .unwrap();
    let p = crate::pipeline::Pipeline::on(server.endpoint()).await;
    let (ok, _, stderr) = drctl(&p.topology, &["snapshot", "now"]).await;
    assert!(ok, "{stderr}");
    let reports = tempfile::tempdir().unwrap();
    let dir = reports.path().to_str().unwrap();

    let (ok, stdout, stderr) = drctl(&p.topology, &["drill", "--report-dir", dir]).await;
    assert!(ok, "{stdout}\n{stderr}");
    assert!(stdout.contains("drill PASSED"), "{stdout}");
    let report = only_report(reports.path(), "json");
    let report: Value = serde_json::from_str(&report).unwrap();
    assert_eq!(report["passed"], true, "{report:#}");
    let checks: Vec<_> = report["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["check"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        checks,
        [
            "database restore",
            "certificates",
            "drill DNS flip",
            "canary connect",
            "canary shadow",
            "teardown"
        ]
    );
    assert_eq!(
        report["phases"][3]["skipped"], true,
        "no [drill.canary] configured"
    );
    assert_eq!(report["phases"][4]["skipped"], true, "no canary, no shadow");
    assert!(report["canary_dr_shadow_version"].is_null(), "{report:#}");
    assert!(report["rto_seconds"].as_f64().unwrap() > 0.0);
    assert!(report["rpo_seconds"].is_i64(), "{report:#}");
    assert!(only_report(reports.path(), "md").contains("| drill DNS flip | pass |"));
    // The record: who ran it (as STS authenticated them), on which configuration, what
    // happened when, and a verdict per objective (sandbox.toml declares a 600 s RTO only).
    assert!(
        report["operator"]
            .as_str()
            .unwrap()
            .starts_with("arn:aws:sts::"),
        "{report:#}"
    );
    assert_eq!(report["config_sha256"].as_str().unwrap().len(), 64);
    let events: Vec<_> = report["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(events.first().map(String::as_str), Some("started"));
    assert!(
        events.iter().any(|e| e == "registries compared"),
        "{events:?}"
    );
    assert!(
        events.iter().any(|e| e.ends_with("answers DR")),
        "{events:?}"
    );
    assert_eq!(events.last().map(String::as_str), Some("torn down"));
    let verdicts: Vec<_> = report["objectives"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["verdict"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(verdicts, ["pass", "pass", "no objective"], "{report:#}");
    assert!(
        report["fleet_rto_model"]
            .as_str()
            .unwrap()
            .contains("devices connected in DR"),
        "{report:#}"
    );

    // DR broken on purpose: a certificate registered in primary never reached DR.
    let device = crate::pipeline::Device::self_signed("never-replicated");
    p.session
        .iot(dr_core::Side::Primary)
        .register_certificate_without_ca()
        .certificate_pem(&device.pem)
        .status(aws_sdk_iot::types::CertificateStatus::Active)
        .send()
        .await
        .unwrap();
    // And an RTO objective no drill can meet: the drill fails naming it too.
    let broken = tempfile::tempdir().unwrap();
    let output = command_for(
        "drctl",
        &repo_root().join("config/sandbox.toml"),
        &p.topology,
    )
    .args(["drill", "--report-dir", broken.path().to_str().unwrap()])
    .env("DRCTL__OBJECTIVES__RTO_SECONDS", "1")
    .output()
    .await
    .unwrap();
    let (ok, stdout, stderr) = (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    );
    assert!(
        !ok && stderr.contains("drill failed: certificates, objective RTO measured"),
        "{stdout}\n{stderr}"
    );
    let report: Value = serde_json::from_str(&only_report(broken.path(), "json")).unwrap();
    let certificates = &report["phases"][1];
    assert_eq!(certificates["passed"], false);
    assert!(
        certificates["detail"]
            .as_str()
            .unwrap()
            .contains("missing in DR 1")
            && certificates["detail"]
                .as_str()
                .unwrap()
                .contains(device.id.as_str()),
        "{certificates}"
    );
    server.stop().await.unwrap();
}

/// The one report of `extension` in `dir`.
fn only_report(dir: &std::path::Path, extension: &str) -> String {
    let paths: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == extension))
        .collect();
    assert_eq!(paths.len(), 1, "{paths:?}");
    std::fs::read_to_string(&paths[0]).unwrap()
}

#[tokio::test]
async fn the_demo_commands_replicate_a_fleet_connect_its_canary_in_a_drill_and_fail_over() {
    use tokio::io::AsyncBufReadExt;

    // Its own sandbox: the drill compares whole registries, the outage fails over.
    let log = std::env::temp_dir().join(format!("{}.log", crate::helpers::unique("demo")));
    let server = dr_sandbox::SandboxServer::start(&dr_sandbox::LauncherPaths::from_build(), &log)
        .await
        .unwrap();
    let p = crate::pipeline::Pipeline::on(server.endpoint()).await;
    let work = tempfile::tempdir().unwrap();
    let fleet_dir = work.path().join("fleet");

    // A fleet in primary, replicated through the real capture and replicator binaries.
    let (ok, stdout, stderr) = drctl_sandbox(
        &p.topology,
        &[
            "fleet",
            "--devices",
            "6",
            "--jitr",
            "2",
            "--revoke",
            "1",
            "--out-dir",
            fleet_dir.to_str().unwrap(),
        ],
    )
    .await;
    assert!(ok, "{stdout}\n{stderr}");
    // Kept in the test's output: which messages failed and were retried, should a later
    // check find DR behind.
    eprintln!("{stdout}");
    assert!(
        stdout.contains("7 certificates") && stdout.contains("2 by JITR"),
        "{stdout}"
    );
    assert!(stdout.contains("parity"), "{stdout}");
    assert!(
        stdout.contains("groups   hospital > ward-cardiology") && stdout.contains("all in DR"),
        "{stdout}"
    );
    let revoked: dr_core::CertificateId = stdout
        .lines()
        .find_map(|l| l.strip_prefix("revoked  "))
        .expect("the revoked certificate is named")
        .parse()
        .unwrap();
    use dr_core::replication::CertificateRegistry;
    assert_eq!(
        p.dr.certificate(&revoked).await.unwrap().map(|c| c.status),
        Some(dr_core::CertificateStatus::Revoked),
        "revoked in primary, revoked in DR"
    );
    let key_mode = std::fs::metadata(fleet_dir.join("canary-key.pem")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(key_mode.permissions().mode() & 0o777, 0o600);

    // DR's endpoint stand-in, letting in only devices ACTIVE in DR's registry.
    let port = crate::helpers::free_port();
    let endpoint_dir = work.path().join("dr-endpoint");
    let mut endpoint = command_for(
        "drctl-sandbox",
        &repo_root().join("config/sandbox.toml"),
        &p.topology,
    )
    .args(["endpoint", "--port", &port.to_string(), "--device-ca"])
    .arg(fleet_dir.join("fleet-ca.pem"))
    .arg("--dir")
    .arg(&endpoint_dir)
    .stdout(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    let mut ready = String::new();
    tokio::io::BufReader::new(endpoint.stdout.take().unwrap())
        .read_line(&mut ready)
        .await
        .unwrap();
    assert!(ready.starts_with("READY"), "{ready}");
    let config = work.path().join("config.toml");
    std::fs::write(
        &config,
        std::fs::read_to_string(repo_root().join("config/sandbox.toml")).unwrap()
            + &format!(
                "\n[drill.canary]\nkind = \"mqtt\"\nhost = \"127.0.0.1\"\nport = {port}\nserver_name = \"{}\"\nalpn = \"x-amzn-mqtt-ca\"\nca_file = \"{}\"\nclient_cert_file = \"{}\"\nclient_key_file = \"{}\"\nclient_id = \"dr-canary\"\n",
                dr_sandbox::iot_endpoint::SERVER_NAME,
                endpoint_dir.join("endpoint-ca.pem").display(),
                fleet_dir.join("canary-cert.pem").display(),
                fleet_dir.join("canary-key.pem").display(),
            ),
    )
    .unwrap();
    let (ok, _, stderr) = drctl(&p.topology, &["snapshot", "now"]).await;
    assert!(ok, "{stderr}");
    // The canary's shadow in DR, written twice there (DR's version 2, whatever primary's
    // would be): the canary GETs it after CONNACK and the report shows DR's version.
    for rate_hz in [25, 50] {
        p.session
            .iot_data(dr_core::Side::Dr)
            .update_thing_shadow()
            .thing_name(dr_sandbox::fleet::CANARY)
            .payload(aws_sdk_iotdataplane::primitives::Blob::new(
                json!({"state": {"desired": {"rate_hz": rate_hz}}}).to_string(),
            ))
            .send()
            .await
            .unwrap();
    }

    let reports = work.path().join("reports");
    let (ok, stdout, stderr) = drctl_with(
        &config,
        &p.topology,
        &["drill", "--report-dir", reports.to_str().unwrap()],
    )
    .await;
    assert!(ok, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("pass  canary connect") && stdout.contains("CONNACK accepted"),
        "{stdout}"
    );
    assert!(
        stdout.contains("pass  canary shadow") && stdout.contains("DR shadow version 2 (dr-canary"),
        "{stdout}"
    );
    let report: Value = serde_json::from_str(&only_report(&reports, "json")).unwrap();
    assert_eq!(report["canary_dr_shadow_version"], 2, "{report:#}");

    // DR broken on purpose: the canary's certificate is not usable in DR.
    let canary = dr_sandbox::devices::Device::from_pem(
        std::fs::read_to_string(fleet_dir.join("canary-cert.pem")).unwrap(),
    );
    p.session
        .iot(dr_core::Side::Dr)
        .update_certificate()
        .certificate_id(canary.id.as_str())
        .new_status(aws_sdk_iot::types::CertificateStatus::Inactive)
        .send()
        .await
        .unwrap();
    let broken = work.path().join("broken");
    let (ok, stdout, stderr) = drctl_with(
        &config,
        &p.topology,
        &["drill", "--report-dir", broken.to_str().unwrap()],
    )
    .await;
    // The registry comparison sees the same break (the canary is a fleet certificate).
    assert!(
        !ok && stderr.contains("drill failed: certificates, canary connect"),
        "{stdout}\n{stderr}"
    );
    assert!(stdout.contains("return code 5"), "{stdout}");
    assert!(
        stdout.contains("skip  canary shadow") && stdout.contains("the canary did not connect"),
        "{stdout}"
    );
    endpoint.kill().await.unwrap();

    // A primary outage, watched by the real health-checker binary: DR serves afterwards,
    // once the operator has armed automatic failover (a first deploy starts held).
    let (_, stdout, _) = drctl(&p.topology, &["status"]).await;
    assert!(stdout.contains("HELD by first-deploy"), "{stdout}");
    let (ok, stdout, stderr) = drctl(&p.topology, &["release"]).await;
    assert!(
        ok && stdout.contains("automatic failover armed"),
        "{stdout}\n{stderr}"
    );
    let (ok, stdout, stderr) = drctl_sandbox(
        &p.topology,
        &[
            "outage",
            "simulate",
            "--pause-ms",
            "0",
            "--work-dir",
            work.path().join("outage").to_str().unwrap(),
        ],
    )
    .await;
    assert!(ok, "{stdout}\n{stderr}");
    let threshold = p.topology.failover.failure_threshold;
    assert!(
        stdout.contains(&format!("decided in outage round {threshold} ")),
        "{stdout}"
    );
    let (_, stdout, _) = drctl(&p.topology, &["status", "--output", "json"]).await;
    let status: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(status["traffic"]["dns_says"], "dr", "{status:#}");
    assert_eq!(status["health"]["mode"], "failed-over", "{status:#}");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn status_answers_in_seconds_with_primary_s_region_hung_or_refusing() {
    use dr_sandbox::fault_proxy::{FaultProxy, OutageMode, OutageScope};

    let p = crate::pipeline::Pipeline::new().await;
    let proxy = FaultProxy::start(crate::helpers::shared_endpoint().as_str(), 2)
        .await
        .unwrap();
    let mut t = p.topology.clone();
    t.sandbox.as_mut().unwrap().endpoint = proxy.url().parse().unwrap();
    let primary = OutageScope::Region {
        region: t.primary.region.to_string(),
    };
    for (mode, says) in [
        (
            OutageMode::Hang,
            "primary us-east-1 IoT: no answer within 5 s",
        ),
        (OutageMode::Refuse, "primary us-east-1 IoT: unreachable"),
    ] {
        proxy.set_outage(primary.clone(), Some(mode));
        let started = std::time::Instant::now();
        let (ok, stdout, stderr) = drctl(&t, &["status"]).await;
        let took = started.elapsed();
        assert!(
            !ok && stderr.contains("needs attention: unreadable (primary certificates): primary"),
            "{stderr}"
        );
        assert!(stdout.contains(says), "{mode}:\n{stdout}");
        // DR's sections are read all the same.
        assert!(stdout.contains("registry lane waiting 0"), "{stdout}");
        assert!(
            !stdout.contains("DispatchFailure") && !stdout.contains("ConnectorError"),
            "one line a person reads, not a Debug chain:\n{stdout}"
        );
        assert!(
            took < std::time::Duration::from_secs(15),
            "{mode}: {took:?}"
        );
        eprintln!("drctl status, primary {mode}: {:.1} s", took.as_secs_f64());
    }
    proxy.set_outage(primary, None);
    let (_, stdout, _) = drctl(&t, &["status", "--output", "json"]).await;
    let status: Value = serde_json::from_str(&stdout).unwrap();
    assert!(
        status["certificates"]["primary"].get("error").is_none(),
        "{status:#}"
    );
}

#[tokio::test]
async fn reconcile_s_status_tier_finds_drift_from_the_listings_and_repairs_it_revocation_included()
{
    use aws_sdk_iot::types::CertificateStatus as SdkStatus;
    use dr_core::replication::CertificateRegistry;
    // Its own sandbox: reconcile lists whole registries.
    let log = std::env::temp_dir().join(format!("{}.log", crate::helpers::unique("tiers")));
    let server = dr_sandbox::SandboxServer::start(&dr_sandbox::LauncherPaths::from_build(), &log)
        .await
        .unwrap();
    let p = crate::pipeline::Pipeline::on(server.endpoint()).await;
    let register = |side, pem: String, status| {
        let iot = p.session.iot(side);
        async move {
            iot.register_certificate_without_ca()
                .certificate_pem(pem)
                .status(status)
                .send()
                .await
                .unwrap();
        }
    };
    let lost: Vec<_> = (0..2)
        .map(|i| crate::pipeline::Device::self_signed(&crate::helpers::unique(&format!("lost{i}"))))
        .collect();
    for device in &lost {
        register(
            dr_core::Side::Primary,
            device.pem.clone(),
            SdkStatus::Active,
        )
        .await;
    }
    let stolen = crate::pipeline::Device::self_signed(&crate::helpers::unique("stolen"));
    register(
        dr_core::Side::Primary,
        stolen.pem.clone(),
        SdkStatus::Revoked,
    )
    .await;
    register(dr_core::Side::Dr, stolen.pem.clone(), SdkStatus::Active).await;

    let (ok, stdout, stderr) = drctl(
        &p.topology,
        &["reconcile", "--tier", "status", "--output", "json"],
    )
    .await;
    assert!(ok, "{stdout}\n{stderr}");
    let dry: Value = serde_json::from_str(&stdout).unwrap();
    let s = &dry["status_pass"];
    assert_eq!(
        (
            &s["missing"],
            &s["wrong_status"],
            &s["repaired"],
            &dry["mode"],
            &dry["tier"]
        ),
        (
            &2.into(),
            &1.into(),
            &0.into(),
            &"dry-run".into(),
            &"status".into()
        ),
        "{dry:#}"
    );
    assert_eq!(
        (&s["source_list_calls"], &s["target_list_calls"]),
        (&1.into(), &1.into()),
        "{dry:#}"
    );
    assert_eq!(
        p.dr.certificate(&stolen.id).await.unwrap().unwrap().status,
        dr_core::CertificateStatus::Active,
        "a dry run changes nothing"
    );

    let (ok, stdout, stderr) = drctl(
        &p.topology,
        &[
            "reconcile",
            "--tier",
            "status",
            "--apply",
            "--output",
            "json",
        ],
    )
    .await;
    assert!(ok, "{stdout}\n{stderr}");
    let applied: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(applied["status_pass"]["repaired"], 3, "{applied:#}");
    assert_eq!(
        p.dr.certificate(&stolen.id).await.unwrap().unwrap().status,
        dr_core::CertificateStatus::Revoked,
        "the revocation reached DR"
    );

    // Both tiers agree afterwards.
    let (ok, stdout, stderr) = drctl(&p.topology, &["reconcile", "--output", "json"]).await;
    assert!(ok, "{stdout}\n{stderr}");
    let after: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        (
            &after["status_pass"]["missing"],
            &after["status_pass"]["wrong_status"],
            &after["missing"],
            &after["mismatched"]
        ),
        (&0.into(), &0.into(), &0.into(), &0.into()),
        "{after:#}"
    );
    server.stop().await.unwrap();
}

/// `drctl config export --json`, the real binary with only the environment given: no AWS
/// call, so no sandbox.
async fn config_export(env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let mut command = tokio::process::Command::new(binary("drctl"));
    command
        .current_dir(repo_root())
        .env_clear()
        .env("DRCTL_CONFIG", repo_root().join("config/sandbox.toml"))
        .args(["config", "export", "--json"]);
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().await.unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn config_export_prints_the_contract_as_drctl_reads_the_topology() {
    // Given the sandbox config and an override, as every binary applies it
    let (code, stdout, stderr) =
        config_export(&[("DRCTL__REPLICATION__TOPIC", "drill-topic")]).await;
    assert_eq!(code, Some(0), "{stderr}");
    // Then the contract carries the override into every name derived from it
    let contract: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(contract["schema_version"], dr_aws::contract::SCHEMA_VERSION);
    assert_eq!(
        contract["names"]["replication_topic_arn"],
        "arn:aws:sns:us-west-2:222222222222:drill-topic.fifo"
    );
    // And without overrides it is the committed fixture the CDK app's tests read
    let (code, stdout, stderr) = config_export(&[]).await;
    assert_eq!(code, Some(0), "{stderr}");
    let fixture =
        std::fs::read_to_string(repo_root().join("infra/test/fixtures/contract.json")).unwrap();
    assert_eq!(stdout, fixture, "make contract-fixtures");
}

#[tokio::test]
async fn config_export_refuses_a_bad_config_with_exit_3_naming_the_field() {
    let (code, stdout, stderr) =
        config_export(&[("DRCTL__DNS__DRILL_RECORD", "iot.example.com")]).await;
    assert_eq!(code, Some(3), "{stderr}");
    assert!(stdout.is_empty(), "no half a contract: {stdout}");
    assert!(
        stderr.contains("dns.drill_record: must differ from dns.record"),
        "{stderr}"
    );
}

/// The verdict and detail of readiness check `name`, from `drctl readiness --output json`.
pub(crate) async fn readiness_check(t: &dr_core::Topology, name: &str) -> (String, String) {
    let (_, stdout, stderr) = drctl(t, &["readiness", "--output", "json"]).await;
    let checks: Value =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}\n{stderr}"));
    let check = checks["details"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["subject"] == name)
        .unwrap_or_else(|| panic!("{name} in {checks:#}"))
        .clone();
    (
        check["kind"].as_str().unwrap().to_owned(),
        check["detail"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn readiness_names_a_hand_edited_serving_alarm_and_a_missing_failover_record() {
    use aws_sdk_route53::types::{Change, ChangeAction, ChangeBatch, ResourceRecordSetFailover};

    let endpoint = PrimaryEndpoint::start().await;
    let world = World::new(&endpoint, FlipMode::DataPlane).await;
    let t = &world.topology;
    // As deployed (and armed): the switch's three parts pass.
    for name in [
        "automatic failover",
        "failover alarm",
        "failover health check",
        "failover records",
    ] {
        let (kind, detail) = readiness_check(t, name).await;
        assert_eq!(kind, "ok", "{name}: {detail}");
    }

    // An alarm edited by hand to Average still exists; readiness names what Route 53 suffers.
    let alarm = dr_aws::failover::ServingAlarm::of(t);
    world
        .session
        .cloudwatch(dr_core::Side::Dr)
        .put_metric_alarm()
        .alarm_name(&alarm.alarm_name)
        .namespace(alarm.namespace)
        .metric_name(alarm.metric_name)
        .dimensions(
            aws_sdk_cloudwatch::types::Dimension::builder()
                .name(alarm.dimension_name)
                .value(&alarm.dimension_value)
                .build(),
        )
        .statistic(aws_sdk_cloudwatch::types::Statistic::Average)
        .period(alarm.period_seconds)
        .evaluation_periods(alarm.evaluation_periods)
        .threshold(alarm.threshold)
        .comparison_operator(alarm.comparison_operator.into())
        .treat_missing_data(alarm.treat_missing_data)
        .send()
        .await
        .unwrap();
    let (kind, detail) = readiness_check(t, "failover alarm").await;
    assert_eq!(kind, "FAIL", "{detail}");
    assert!(
        detail.contains("statistic Average, wanted Minimum"),
        "{detail}"
    );

    // SECONDARY deleted: DNS would have nowhere to fail over to.
    let route53 = world.session.route53(dr_core::Side::Dr);
    let zone = route53
        .list_hosted_zones_by_name()
        .dns_name(format!("{}.", t.dns.zone))
        .send()
        .await
        .unwrap()
        .hosted_zones()[0]
        .id()
        .to_owned();
    let secondary = route53
        .list_resource_record_sets()
        .hosted_zone_id(&zone)
        .start_record_name(t.dns.record.as_str())
        .send()
        .await
        .unwrap()
        .resource_record_sets()
        .iter()
        .find(|r| r.failover() == Some(&ResourceRecordSetFailover::Secondary))
        .cloned()
        .expect("provisioning made SECONDARY");
    route53
        .change_resource_record_sets()
        .hosted_zone_id(&zone)
        .change_batch(
            ChangeBatch::builder()
                .changes(
                    Change::builder()
                        .action(ChangeAction::Delete)
                        .resource_record_set(secondary)
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let (kind, detail) = readiness_check(t, "failover records").await;
    assert_eq!(kind, "FAIL", "{detail}");
    assert!(detail.contains("no SECONDARY record"), "{detail}");
}
