//! Flow D against the sandbox: real probes of a local TLS listener standing in for
//! primary's IoT endpoint, the real state table (conditional writes), SNS, CloudWatch,
//! Route 53 and RDS in the DR account. Each test has its own state table, operator topic
//! and DNS record, so tests run in parallel.

use dr_core::port::PortError;
use std::sync::Arc;

use dr_aws::failover::{FailoverPorts, Switch, SERVING_METRIC};
use dr_aws::probes::{run_round, Probe};
use dr_aws::rds::RdsSnapshotStore;
use dr_aws::AwsSession;
use dr_core::failover::{
    AuditEntry, Controller, DatabaseRecovery, Decision, FailoverError, FailoverRecord, Mode,
    Notifier, Outcome, Refused, Runbook, RunbookKind, StateStore, Stored, TrafficSwitch,
};
use dr_core::snapshots::{failover_target, tick, DatabaseKind, DatabaseRestorer};
use dr_core::{FlipMode, ProbeConfig, Side, Topology};

use crate::helpers::{admin, as_function, as_operator, shared_endpoint, topology_for, unique};
use crate::primary_endpoint::{PrimaryEndpoint, SERVER_NAME};

pub(crate) struct World {
    /// The administrator's (fixtures, the test's pager, assertions).
    pub(crate) session: AwsSession,
    /// The health checker's: its probes and ports run under its roles.
    pub(crate) checker: AwsSession,
    /// An operator's (`drctl`): where Route 53 points is read as `drctl status` reads it;
    /// the checker's failover path never asks Route 53's control plane.
    pub(crate) operator: AwsSession,
    pub(crate) topology: Topology,
    probes: Vec<Arc<Probe>>,
    /// Receives what the operator topic publishes.
    inbox: String,
}

impl World {
    /// Its own failover resources and DNS record, probing `endpoint` with TLS and MQTT.
    pub(crate) async fn new(endpoint: &PrimaryEndpoint, flip: FlipMode) -> Self {
        Self::protecting(endpoint, flip, None).await
    }

    /// The same, protecting `database` (an instance) instead of the sandbox's `fleetdb`:
    /// the CDK app grants the checker restores of the protected databases only.
    pub(crate) async fn protecting(
        endpoint: &PrimaryEndpoint,
        flip: FlipMode,
        database: Option<&str>,
    ) -> Self {
        Self::protecting_on(&shared_endpoint(), endpoint, flip, database).await
    }

    /// The same on the sandbox at `sandbox` (a test's own, when it changes what others see).
    pub(crate) async fn protecting_on(
        sandbox: &dr_core::Endpoint,
        endpoint: &PrimaryEndpoint,
        flip: FlipMode,
        database: Option<&str>,
    ) -> Self {
        Self::configured(sandbox, endpoint, flip, |topology| {
            if let Some(database) = database {
                topology.snapshots.databases.truncate(1);
                topology.snapshots.databases[0].identifier = database.parse().unwrap();
            }
        })
        .await
    }

    /// The same, with the topology changed by `configure` before it is provisioned (the
    /// CDK app's IAM follows the protected databases).
    pub(crate) async fn configured(
        sandbox: &dr_core::Endpoint,
        endpoint: &PrimaryEndpoint,
        flip: FlipMode,
        configure: impl FnOnce(&mut Topology),
    ) -> Self {
        let mut topology = topology_for(sandbox);
        let name = unique("fo");
        topology.failover.state_table = format!("{name}-state").parse().unwrap();
        topology.failover.operator_topic = format!("{name}-operators").parse().unwrap();
        topology.failover.flip = flip;
        topology.failover.failback_after_healthy_seconds = 0;
        // Failback tests that look at Route 53 set their own settle wait (>= the alarm's
        // 60 s period, or Route 53 still sees the 0s of the failover).
        topology.failover.failback_settle_seconds = 0;
        topology.dns.record = format!("{name}.example.com").parse().unwrap();
        topology.dns.drill_record = format!("drill-{name}.example.com").parse().unwrap();
        topology.failover.probes = probes_of(endpoint);
        configure(&mut topology);
        dr_sandbox::provision(&topology).await.unwrap();
        let session = admin(&topology).await;
        let checker = as_function(&topology, "health-checker").await;
        let operator = as_operator(&topology).await;
        let probes = Probe::all(&topology, &checker)
            .unwrap()
            .into_iter()
            .map(Arc::new)
            .collect();
        let inbox = subscribe_inbox(&session, &topology).await;
        // The deploy order's last step: a first deploy is held until the operator arms it.
        FailoverPorts::new(&operator, &topology)
            .controller()
            .release(now())
            .await
            .unwrap();
        Self {
            session,
            checker,
            operator,
            topology,
            probes,
            inbox,
        }
    }

    /// Its probes of primary, as the checker runs them.
    pub(crate) fn probes(&self) -> Vec<Arc<Probe>> {
        self.probes.clone()
    }

    /// The health checker's ports.
    pub(crate) fn ports(&self) -> FailoverPorts<'_> {
        FailoverPorts::new(&self.checker, &self.topology)
    }

    /// Make `database` in primary (the application's) and run the snapshot controller
    /// until a copy of it is restorable in DR.
    pub(crate) async fn with_dr_snapshot(&self, database: &str) {
        dr_sandbox::provision::snapshots::ensure_instance(&self.session, &self.topology, database)
            .await
            .unwrap();
        let (kind, policy) = self.topology.snapshot_policies().remove(0);
        let controller = as_function(&self.topology, "snapshot-controller").await;
        let snapshots = RdsSnapshotStore::new(&controller, &self.topology, kind);
        for _ in 0..6 {
            tick(&snapshots, &policy, now()).await.unwrap();
        }
    }

    /// The side Route 53 answers with, per PRIMARY's health check (an operator's read).
    pub(crate) async fn route53_answer(&self) -> Option<Side> {
        Switch::new(&self.operator, &self.topology)
            .serving()
            .await
            .unwrap()
    }

    pub(crate) async fn notifications(&self) -> Vec<String> {
        let sqs = self.session.sqs(Side::Dr);
        let mut bodies = Vec::new();
        loop {
            let received = sqs
                .receive_message()
                .queue_url(&self.inbox)
                .max_number_of_messages(10)
                .send()
                .await
                .unwrap();
            if received.messages().is_empty() {
                return bodies;
            }
            for message in received.messages() {
                bodies.push(message.body().unwrap_or_default().to_owned());
                sqs.delete_message()
                    .queue_url(&self.inbox)
                    .receipt_handle(message.receipt_handle().unwrap())
                    .send()
                    .await
                    .unwrap();
            }
        }
    }

    /// The audit records, read by the administrator (the checker only writes them).
    pub(crate) async fn audits(&self) -> Vec<AuditEntry> {
        dr_aws::failover::DynamoStateStore::new(&self.session, &self.topology)
            .audit_entries()
            .await
            .unwrap()
    }
}

/// The runbook `started` began, finished: continued (as the next scheduled rounds would)
/// until it is, since a restore takes the sandbox's restore time as it takes RDS's on AWS.
pub(crate) async fn finish_runbook<St, Sw, N, D>(
    controller: &Controller<'_, St, Sw, N, D>,
    started: Outcome,
) -> Runbook
where
    St: StateStore + Sync,
    Sw: TrafficSwitch + Sync,
    N: Notifier + Sync,
    D: DatabaseRecovery + dr_core::failover::DatabaseFailback + Sync,
{
    if let Some(finished) = started.finished {
        return finished;
    }
    for _ in 0..240 {
        let outcome = controller.resume(now()).await.unwrap();
        if let Some(finished) = outcome.finished {
            return finished;
        }
        let pending = outcome.record.runbook.expect("a runbook to finish");
        eprintln!("waiting: {:?}", pending.progress);
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    panic!("the runbook did not finish within a minute");
}

fn probes_of(endpoint: &PrimaryEndpoint) -> Vec<ProbeConfig> {
    vec![
        ProbeConfig::Tls {
            host: "127.0.0.1".into(),
            port: endpoint.port,
            server_name: Some(SERVER_NAME.into()),
            alpn: Some("x-amzn-mqtt-ca".into()),
            ca_file: Some(endpoint.ca_file.clone()),
            timeout_ms: 2_000,
        },
        ProbeConfig::Mqtt {
            host: "127.0.0.1".into(),
            port: endpoint.port,
            server_name: Some(SERVER_NAME.into()),
            alpn: Some("x-amzn-mqtt-ca".into()),
            ca_file: Some(endpoint.ca_file.clone()),
            client_cert_file: canary_file(endpoint, "cert"),
            client_key_file: canary_file(endpoint, "key"),
            client_id: "health-canary".into(),
            timeout_ms: 2_000,
        },
    ]
}

/// A canary device identity next to the endpoint's CA file.
fn canary_file(endpoint: &PrimaryEndpoint, which: &str) -> std::path::PathBuf {
    let dir = endpoint.ca_file.parent().unwrap();
    let (cert, key) = (dir.join("canary-cert.pem"), dir.join("canary-key.pem"));
    if !cert.exists() {
        let key_pair = rcgen::KeyPair::generate().unwrap();
        let certificate = rcgen::CertificateParams::new(vec!["health-canary".to_owned()])
            .unwrap()
            .self_signed(&key_pair)
            .unwrap();
        std::fs::write(&cert, certificate.pem()).unwrap();
        std::fs::write(&key, key_pair.serialize_pem()).unwrap();
    }
    if which == "cert" {
        cert
    } else {
        key
    }
}

/// An SQS queue in DR subscribed to the operator topic: the test's pager.
async fn subscribe_inbox(session: &AwsSession, topology: &Topology) -> String {
    let sqs = session.sqs(Side::Dr);
    let name = format!("{}-inbox", topology.failover.operator_topic);
    let url = sqs
        .create_queue()
        .queue_name(&name)
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_owned();
    let arn = format!(
        "arn:aws:sqs:{}:{}:{name}",
        topology.dr.region, topology.dr.account_id
    );
    session
        .sns(Side::Dr)
        .subscribe()
        .topic_arn(dr_aws::failover::operator_topic_arn(topology))
        .protocol("sqs")
        .endpoint(arn)
        .send()
        .await
        .unwrap();
    url
}

pub(crate) fn now() -> i64 {
    dr_core::time::now_millis()
}

#[tokio::test]
async fn stopping_primary_fails_over_within_threshold_plus_one_rounds_restores_notifies_and_audits()
{
    let mut endpoint = PrimaryEndpoint::start().await;
    // A protected database with a snapshot already in DR, so the runbook restores for real.
    let database = unique("fleetdb");
    let world = World::protecting(&endpoint, FlipMode::DataPlane, Some(&database)).await;
    world.with_dr_snapshot(&database).await;
    let kind = world.topology.snapshot_policies()[0].0;

    let ports = world.ports();
    let controller = ports.controller();
    for _ in 0..3 {
        let round = run_round(&world.probes, now()).await;
        assert!(
            round.outcomes.iter().all(|o| o.healthy),
            "{}",
            round.summary()
        );
        controller.round(round).await.unwrap();
    }
    assert_eq!(
        world.route53_answer().await,
        Some(Side::Primary),
        "healthy rounds publish 1 and the alarm follows"
    );

    endpoint.stop().await;
    let threshold = world.topology.failover.failure_threshold as usize;
    let mut decided_after = None;
    let mut deciding = None;
    for n in 1..=threshold + 1 {
        let round = run_round(&world.probes, now()).await;
        assert!(
            round.outcomes.iter().all(|o| !o.healthy),
            "{}",
            round.summary()
        );
        let outcome = controller.round(round).await.unwrap();
        if matches!(outcome.decision, Decision::FailOver(_)) {
            decided_after = Some(n);
            assert_eq!(outcome.record.state.mode, Mode::FailedOver);
            deciding = Some(outcome);
            break;
        }
    }
    let rounds = decided_after.expect("failed over");
    assert!(rounds <= threshold + 1, "after {rounds} rounds");

    // The alarm Route 53's PRIMARY health check follows is in ALARM; the metric says DR.
    assert_eq!(world.route53_answer().await, Some(Side::Dr));
    let datapoints = world
        .session
        .cloudwatch(Side::Dr)
        .get_metric_statistics()
        .namespace("IotDr")
        .metric_name(SERVING_METRIC)
        .dimensions(
            aws_sdk_cloudwatch::types::Dimension::builder()
                .name("Record")
                .value(world.topology.dns.record.as_str())
                .build(),
        )
        .start_time(aws_smithy_types::DateTime::from_millis(now() - 600_000))
        .end_time(aws_smithy_types::DateTime::from_millis(now() + 60_000))
        .period(60)
        .statistics(aws_sdk_cloudwatch::types::Statistic::Minimum)
        .send()
        .await
        .unwrap();
    assert!(
        datapoints
            .datapoints()
            .iter()
            .any(|d| d.minimum() == Some(0.0)),
        "{datapoints:?}"
    );

    // The database is restored in DR into the runbook's own database, on RDS's time.
    let runbook = finish_runbook(&controller, deciding.unwrap()).await;
    let target = failover_target(&database, &runbook.id).unwrap();
    let restored = RdsSnapshotStore::new(&world.session, &world.topology, kind)
        .database(DatabaseKind::Instance, &target)
        .await
        .unwrap()
        .expect("restored in DR");
    assert_eq!(restored.status, "available");
    assert!(restored.endpoint.is_some());
    assert_eq!(restored.tags["dr:runbook"], runbook.id);
    // The application in DR finds it by its parameter: this runbook's database, in DR's
    // account, with the data time the audit gives.
    let announced = dr_aws::failover::SsmDatabaseDirectory::new(&world.session, &world.topology)
        .read(&database)
        .await
        .unwrap()
        .expect("database ready announced the restored database");
    let endpoint = restored.endpoint.clone().unwrap();
    assert_eq!(
        (announced.address.as_str(), announced.port),
        (endpoint.address.as_str(), endpoint.port)
    );
    assert_eq!(announced.restored_as, target);
    assert_eq!(announced.runbook, runbook.id);
    assert_eq!(announced.account, world.topology.dr.account_id.as_str());

    let notifications = world.notifications().await;
    assert!(
        notifications
            .iter()
            .any(|n| n.contains("FAILED OVER to DR")),
        "{notifications:?}"
    );
    assert!(
        notifications
            .iter()
            .any(|n| n.contains(&format!("{target} available at"))),
        "{notifications:?}"
    );
    let audits = world.audits().await;
    assert_eq!(audits.len(), 1, "{audits:?}");
    let audit = &audits[0].runbook;
    // The audit says what was restored, from what, with which data time.
    assert!(
        audit.notes.iter().any(|n| n
            .contains(&format!("restoring into {target} from snapshot copy"))
            && n.contains("data time")),
        "{:?}",
        audit.notes
    );
    assert_eq!(audit.kind, RunbookKind::Failover);
    assert_eq!(audit.by, "health-checker");
    let evidence = audit.evidence.as_ref().expect("probe evidence");
    assert!(
        evidence
            .outcomes
            .iter()
            .all(|o| !o.healthy && o.reason.contains("connect")),
        "{}",
        evidence.summary()
    );
    let state = ports.store.load().await.unwrap().unwrap();
    assert!(state.record.runbook.is_none(), "the runbook finished");
}

#[tokio::test]
async fn the_dns_api_switch_upserts_the_record_to_dr_and_back() {
    let endpoint = PrimaryEndpoint::start().await;
    let world = World::new(&endpoint, FlipMode::DnsApi).await;
    let ports = world.ports();
    assert_eq!(world.route53_answer().await, Some(Side::Primary));

    let outcome = ports
        .controller()
        .force_failover("oncall", "drill of the dns-api switch", now())
        .await
        .unwrap();
    assert!(outcome.finished.is_some(), "{outcome:?}");
    assert_eq!(world.route53_answer().await, Some(Side::Dr));
    let audits = world.audits().await;
    assert_eq!(audits[0].runbook.by, "oncall");
    assert!(audits[0].runbook.evidence.is_none());
}

/// A state store whose loads wait for each other: both deciders read the same version
/// before either writes, the race the fence exists for.
struct RacingStore<'a> {
    inner: &'a dr_aws::failover::DynamoStateStore,
    barrier: tokio::sync::Barrier,
}

impl StateStore for RacingStore<'_> {
    async fn load(&self) -> Result<Option<Stored>, PortError> {
        let stored = self.inner.load().await;
        self.barrier.wait().await;
        stored
    }

    async fn save(&self, record: &FailoverRecord, expected: u64) -> Result<bool, PortError> {
        self.inner.save(record, expected).await
    }

    async fn audit(&self, entry: &AuditEntry) -> Result<(), PortError> {
        self.inner.audit(entry).await
    }
}

#[tokio::test]
async fn two_concurrent_health_checkers_at_the_threshold_only_one_acts() {
    let mut endpoint = PrimaryEndpoint::start().await;
    let world = World::new(&endpoint, FlipMode::DataPlane).await;
    let ports = world.ports();
    endpoint.stop().await;
    let threshold = world.topology.failover.failure_threshold;
    for _ in 1..threshold {
        let round = run_round(&world.probes, now()).await;
        ports.controller().round(round).await.unwrap();
    }
    let racing = RacingStore {
        inner: &ports.store,
        barrier: tokio::sync::Barrier::new(2),
    };
    let controller = dr_core::failover::Controller {
        store: &racing,
        switch: &ports.switch,
        notifier: &ports.notifier,
        database: &ports.recovery,
        settings: world.topology.failover.settings(),
        dr_region: world.topology.dr.region.to_string(),
    };
    let round = run_round(&world.probes, now()).await;
    let (a, b) = tokio::join!(controller.round(round.clone()), controller.round(round));
    let acted = [&a, &b].iter().filter(|r| r.is_ok()).count();
    let fenced = [&a, &b]
        .iter()
        .filter(|r| matches!(r, Err(FailoverError::Fenced(_))))
        .count();
    assert_eq!((acted, fenced), (1, 1), "{a:?}\n{b:?}");
    assert_eq!(world.audits().await.len(), 1);
    let failovers = world
        .notifications()
        .await
        .into_iter()
        .filter(|n| n.contains("FAILED OVER"))
        .count();
    assert_eq!(failovers, 1);
}

#[tokio::test]
async fn a_hold_blocks_automatic_failover_and_failback_waits_for_its_preconditions() {
    let mut endpoint = PrimaryEndpoint::start().await;
    let mut world = World::new(&endpoint, FlipMode::DataPlane).await;
    // Route 53 reads the alarm's data over its 60 s period (the sandbox evaluates it as
    // Route 53 does): failback keeps publishing "primary serves" until no DR datapoint is
    // left in it, or DNS would still answer DR.
    world.topology.failover.failback_settle_seconds = 62;
    let ports = world.ports();
    let controller = ports.controller();
    controller
        .hold("oncall", "primary maintenance window", None, now())
        .await
        .unwrap();
    endpoint.stop().await;
    for _ in 0..5 {
        let round = run_round(&world.probes, now()).await;
        let outcome = controller.round(round).await.unwrap();
        assert_ne!(outcome.record.state.mode, Mode::FailedOver);
    }
    assert!(world.audits().await.is_empty(), "nothing acted while held");
    controller.release(now()).await.unwrap();
    let round = run_round(&world.probes, now()).await;
    assert!(matches!(
        controller.round(round).await.unwrap().decision,
        Decision::FailOver(_)
    ));

    // Failback: refused while primary is down, then until a reverse reconcile has run.
    let refused = controller
        .failback("oncall", None, now())
        .await
        .unwrap_err();
    assert!(
        matches!(
            refused,
            FailoverError::Refused(Refused::PrimaryNotHealthyLongEnough { .. })
        ),
        "{refused}"
    );
    endpoint.resume().await;
    let round = run_round(&world.probes, now()).await;
    assert!(!round.is_down(None), "{}", round.summary());
    controller.round(round).await.unwrap();
    let refused = controller
        .failback("oncall", None, now())
        .await
        .unwrap_err();
    assert!(
        matches!(refused, FailoverError::Refused(Refused::NotReconciled)),
        "{refused}"
    );
    controller.reverse_reconciled(now()).await.unwrap();
    let outcome = controller.failback("oncall", None, now()).await.unwrap();
    assert_eq!(outcome.record.state.mode, Mode::Healthy);
    assert_eq!(world.route53_answer().await, Some(Side::Primary));
    let kinds: Vec<_> = world
        .audits()
        .await
        .iter()
        .map(|a| a.runbook.kind)
        .collect();
    assert_eq!(kinds, [RunbookKind::Failback, RunbookKind::Failover]);
}

#[tokio::test]
async fn each_probe_kind_reports_health_latency_and_a_reason() {
    let mut endpoint = PrimaryEndpoint::start().await;
    let (session, mut topology) = crate::helpers::shared_session().await;
    let alarm = unique("iot-connect-errors");
    // Primary's own alarms, made by primary's administrator.
    let primary_cloudwatch = session.cloudwatch(Side::Primary);
    primary_cloudwatch
        .put_metric_alarm()
        .alarm_name(&alarm)
        .namespace("AWS/IoT")
        .metric_name("Connect.ServerError")
        .statistic(aws_sdk_cloudwatch::types::Statistic::Sum)
        .period(60)
        .evaluation_periods(1)
        .threshold(1.0)
        .comparison_operator(
            aws_sdk_cloudwatch::types::ComparisonOperator::GreaterThanOrEqualToThreshold,
        )
        .send()
        .await
        .unwrap();
    let set_state = |state: aws_sdk_cloudwatch::types::StateValue| {
        primary_cloudwatch
            .set_alarm_state()
            .alarm_name(&alarm)
            .state_value(state)
            .state_reason("test")
            .send()
    };
    // An alarm without data yet fails the probe: set it OK as a quiet primary's would be.
    set_state(aws_sdk_cloudwatch::types::StateValue::Ok)
        .await
        .unwrap();
    let mut configs = probes_of(&endpoint);
    configs.push(ProbeConfig::Https {
        url: format!("https://127.0.0.1:{}/health", endpoint.port),
        server_name: Some(SERVER_NAME.into()),
        ca_file: Some(endpoint.ca_file.clone()),
        timeout_ms: 2_000,
    });
    // Without the name, the certificate (for iot.example.com) must not be accepted for
    // 127.0.0.1: proof that the probes check the name.
    configs.push(ProbeConfig::Https {
        url: format!("https://127.0.0.1:{}/unnamed", endpoint.port),
        server_name: None,
        ca_file: Some(endpoint.ca_file.clone()),
        timeout_ms: 2_000,
    });
    configs.push(ProbeConfig::Alarm {
        alarm_names: vec![alarm.clone()],
        timeout_ms: 2_000,
    });
    configs.push(ProbeConfig::Alarm {
        alarm_names: vec![alarm.clone(), "no-such-alarm".into()],
        timeout_ms: 2_000,
    });
    topology.failover.probes = configs;
    // The probes run as the checker does: its primary role may read exactly these alarms.
    dr_sandbox::provision(&topology).await.unwrap();
    let checker = as_function(&topology, "health-checker").await;
    let probes: Vec<Arc<Probe>> = Probe::all(&topology, &checker)
        .unwrap()
        .into_iter()
        .map(Arc::new)
        .collect();
    let round = run_round(&probes, now()).await;
    let by_kind = |kind: &str| {
        round
            .outcomes
            .iter()
            .find(|o| o.probe.starts_with(kind))
            .unwrap()
            .clone()
    };
    assert!(by_kind("tls").healthy, "{}", round.summary());
    assert!(
        by_kind("tls").reason.contains("x-amzn-mqtt-ca"),
        "{}",
        round.summary()
    );
    assert!(by_kind("mqtt").healthy && by_kind("mqtt").reason.contains("CONNACK accepted"));
    let https = by_kind("https 127.0.0.1");
    assert!(https.healthy && https.reason == "HTTP 200", "{https:?}");
    let unnamed = round
        .outcomes
        .iter()
        .find(|o| o.probe.ends_with("/unnamed"))
        .unwrap();
    assert!(
        !unnamed.healthy && unnamed.reason.contains("TLS handshake"),
        "{unnamed:?}"
    );
    assert!(by_kind("alarms").healthy, "{}", round.summary());
    let with_missing = round.outcomes.last().unwrap();
    assert!(
        !with_missing.healthy
            && with_missing
                .reason
                .contains("not found in primary: no-such-alarm"),
        "{with_missing:?}"
    );

    set_state(aws_sdk_cloudwatch::types::StateValue::Alarm)
        .await
        .unwrap();
    endpoint.stop().await;
    let round = run_round(&probes, now()).await;
    assert!(
        round.outcomes.iter().all(|o| !o.healthy),
        "{}",
        round.summary()
    );
    assert!(by_kind_in(&round, "alarms").reason.contains(&alarm));
    assert!(round.outcomes.iter().all(|o| o.latency_ms < 2_500));
}

fn by_kind_in(round: &dr_core::failover::Round, kind: &str) -> dr_core::failover::ProbeOutcome {
    round
        .outcomes
        .iter()
        .find(|o| o.probe.starts_with(kind))
        .unwrap()
        .clone()
}

/// RDS's replicated automated backups as a restore source: the snapshot controller turns
/// replication on (as its own role, in the DR region); with no DR copy yet the failover
/// restores from them, into primary's account in the DR region and the network the config
/// names, never publicly; once a DR copy is newer than their latest restorable time, a
/// failover would take the copy. All read in the DR region, as the checker's roles allow.
#[tokio::test]
async fn a_failover_restores_from_replicated_backups_when_they_hold_newer_data() {
    use dr_aws::backups::RdsReplicatedBackups;
    use dr_core::failover::DatabaseRecovery;
    use dr_core::snapshots::{
        ensure_backup_replication, observe_sources, ReplicationState, REPLICATED_BACKUPS,
        SNAPSHOT_COPY,
    };

    let endpoint = PrimaryEndpoint::start().await;
    let database = unique("pitrdb");
    let world = World::protecting(&endpoint, FlipMode::DataPlane, Some(&database)).await;
    let t = &world.topology;
    let (kind, policy) = t.snapshot_policies().remove(0);
    let replication = policy
        .backup_replication
        .clone()
        .expect("the sandbox config replicates fleetdb's backups");
    dr_sandbox::provision::snapshots::ensure_instance(&world.session, t, &database)
        .await
        .unwrap();

    let controller = as_function(t, "snapshot-controller").await;
    let backups = RdsReplicatedBackups::new(&controller, t);
    assert_eq!(
        ensure_backup_replication(&backups, &policy)
            .await
            .unwrap()
            .unwrap(),
        ReplicationState::Started
    );
    assert!(matches!(
        ensure_backup_replication(&backups, &policy)
            .await
            .unwrap()
            .unwrap(),
        ReplicationState::Replicating {
            latest_restorable_ms: Some(_),
            ..
        }
    ));

    // No snapshot copy in DR: the replicated backups are the only source.
    let recovery = dr_aws::failover::rds_recovery(&world.checker, t);
    let runbook = format!("failover-{}", now());
    let target = failover_target(&database, &runbook).unwrap();
    let notes = recovery.start(&runbook).await;
    assert!(
        notes[0].contains(&format!(
            "restoring into {target} from replicated automated backups"
        )) && notes[0].contains("in primary's account"),
        "{notes:?}"
    );
    let ready = wait_ready(&recovery, &runbook).await;
    assert!(ready.contains(&format!("{target} available at")), "{ready}");
    let restored = world
        .session
        .rds_in(Side::Primary, &t.dr.region)
        .describe_db_instances()
        .db_instance_identifier(&target)
        .send()
        .await
        .unwrap();
    let restored = &restored.db_instances()[0];
    assert_eq!(
        restored
            .db_subnet_group()
            .and_then(|g| g.db_subnet_group_name()),
        replication.restore.subnet_group.as_deref()
    );
    assert_eq!(restored.publicly_accessible(), Some(false));
    assert!(
        restored
            .kms_key_id()
            .is_some_and(|k| k.starts_with(&format!(
                "arn:aws:kms:{}:{}:key/",
                t.dr.region, t.primary.account_id
            ))),
        "encrypted with primary's key in the DR region: {:?}",
        restored.kms_key_id()
    );
    // Not in DR's account: that is where a restore of a snapshot copy would land.
    let in_dr = RdsSnapshotStore::new(&world.session, t, kind)
        .database(kind, &target)
        .await
        .unwrap();
    assert!(in_dr.is_none());
    // And the application in DR is told so: primary's account, this source's endpoint.
    let announced = dr_aws::failover::SsmDatabaseDirectory::new(&world.session, t)
        .read(&database)
        .await
        .unwrap()
        .expect("database ready announced the restored database");
    assert_eq!(announced.account, t.primary.account_id.as_str());
    assert_eq!(
        Some(announced.address.as_str()),
        restored.endpoint().and_then(|e| e.address())
    );
    assert!(
        announced.source.contains("auto-backup"),
        "{}",
        announced.source
    );

    // A fresh DR copy: newer than the backups' latest restorable time (minutes behind).
    world.with_dr_snapshot(&database).await;
    let copies = RdsSnapshotStore::new(&world.checker, t, kind);
    let checker_backups = RdsReplicatedBackups::new(&world.checker, t);
    let report = observe_sources(&copies, Some(&checker_backups), &policy, now()).await;
    assert_eq!(
        report.chosen().map(|s| s.kind_name()),
        Some(SNAPSHOT_COPY),
        "{report:?}"
    );
    assert!(
        matches!(&report.replicated, Some(Ok(Some(s))) if s.kind_name() == REPLICATED_BACKUPS),
        "{report:?}"
    );
}

/// `recovery.ready` until the runbook's databases are ready, as the rounds would ask.
async fn wait_ready(recovery: &impl DatabaseRecovery, runbook: &str) -> String {
    let started = now();
    for _ in 0..240 {
        match recovery.ready(runbook, started).await.unwrap() {
            dr_core::failover::Readiness::Ready(note) => return note,
            dr_core::failover::Readiness::Waiting { progress, .. } => {
                eprintln!("waiting: {progress}")
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    panic!("not ready within a minute");
}
