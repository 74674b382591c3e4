//! The snapshot controller against the sandbox: real RDS and KMS calls in both accounts.
//! Each test protects a database of its own, so tests run in parallel.

use dr_core::port::PortError;
use std::sync::atomic::{AtomicUsize, Ordering};

use dr_aws::rds::RdsSnapshotStore;
use dr_aws::AwsSession;
use dr_core::snapshots::{
    restore_newest, tick, Blocked, DatabaseKind, DatabaseRestorer, Location, RestoreError,
    RestoreRequest, Snapshot, SnapshotPolicy, SnapshotState, SnapshotStore, TAG_SOURCE_TIME,
};
use dr_core::{Side, Topology};

use crate::helpers::{admin, as_function, as_operator, shared_endpoint, topology_for, unique};

const HOUR: i64 = 3_600_000;

struct Fixture {
    /// The administrator's: fixtures (databases in primary) and assertions.
    session: AwsSession,
    topology: Topology,
    /// The snapshot controller's store, under its roles.
    store: RdsSnapshotStore,
    /// The operators' (drctl snapshot restore, drills).
    operator_store: RdsSnapshotStore,
    policy: SnapshotPolicy,
}

impl Fixture {
    /// A provisioned world and a fresh database protected by the sandbox's policy.
    async fn new() -> Self {
        Self::protecting(&[]).await
    }

    /// The same, with more protected databases in the topology (`[[snapshots.databases]]`:
    /// the CDK app grants the controller snapshots of those only). Creating them is the
    /// test's.
    async fn protecting(more: &[(&str, DatabaseKind)]) -> Self {
        let mut topology = topology_for(&shared_endpoint());
        let database = unique("fleetdb");
        let protect = |identifier: &str, kind| {
            dr_core::config::DatabaseConfig::named(identifier.parse().unwrap(), kind)
        };
        topology.snapshots.databases = vec![protect(&database, DatabaseKind::Instance)];
        dr_sandbox::provision(&topology).await.unwrap();
        // The others protected too (provisioning would have created them).
        if !more.is_empty() {
            let others = more
                .iter()
                .map(|(identifier, kind)| protect(identifier, *kind));
            topology.snapshots.databases.extend(others);
            dr_sandbox::register_world(&topology).await.unwrap();
        }
        let session = admin(&topology).await;
        dr_sandbox::provision::snapshots::ensure_instance(&session, &topology, &database)
            .await
            .unwrap();
        let (_, policy) = topology.snapshot_policies().remove(0);
        let controller = as_function(&topology, "snapshot-controller").await;
        let store = RdsSnapshotStore::new(&controller, &topology, DatabaseKind::Instance);
        let operator = as_operator(&topology).await;
        let operator_store = RdsSnapshotStore::new(&operator, &topology, DatabaseKind::Instance);
        Self {
            session,
            topology,
            store,
            operator_store,
            policy,
        }
    }

    async fn observe(&self) -> Vec<Snapshot> {
        self.store.observe(&self.policy.database).await.unwrap()
    }

    async fn at(&self, location: Location) -> Vec<Snapshot> {
        self.observe()
            .await
            .into_iter()
            .filter(|s| s.location == location)
            .collect()
    }

    /// Tick until a tick has nothing left to do (at most `limit` ticks).
    async fn converge(&self, now: i64, limit: usize) {
        for _ in 0..limit {
            let report = tick(&self.store, &self.policy, now).await.unwrap();
            assert!(report.failed.is_empty(), "{:?}", report.failed);
            if report.plan.actions.is_empty() {
                return;
            }
        }
        panic!("no convergence within {limit} ticks");
    }
}

fn now() -> i64 {
    dr_core::time::now_millis()
}

#[tokio::test]
async fn a_full_cycle_ends_with_a_dr_owned_copy_under_drs_key() {
    let f = Fixture::new().await;
    f.converge(now(), 6).await;

    let dr = f.at(Location::Dr).await;
    assert_eq!(dr.len(), 1, "{dr:?}");
    let copy = &dr[0];
    assert_eq!(copy.state, SnapshotState::Available);
    assert!(
        copy.arn
            .contains(&format!(":{}:snapshot:", f.topology.dr.account_id)),
        "owned by DR: {}",
        copy.arn
    );
    let dr_key = f
        .session
        .kms(Side::Dr)
        .describe_key()
        .key_id(&f.policy.dr_kms_key)
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .arn()
        .unwrap()
        .to_owned();
    assert_eq!(
        copy.kms_key_id.as_deref(),
        Some(dr_key.as_str()),
        "encrypted with DR's own key"
    );
    let source = &f.at(Location::Source).await[0];
    assert_eq!(
        copy.tags.get(TAG_SOURCE_TIME).map(String::as_str),
        Some(source.created_ms.to_string().as_str()),
        "tagged with the source snapshot's time"
    );
    let plan = tick(&f.store, &f.policy, now()).await.unwrap().plan;
    assert!(
        plan.rpo_ms.is_some_and(|rpo| rpo < HOUR),
        "{:?}",
        plan.rpo_ms
    );
}

/// A store that fails every write after the first `allowed`, like a controller killed
/// part-way through a tick.
struct Crashing<'a> {
    inner: &'a RdsSnapshotStore,
    allowed: usize,
    writes: AtomicUsize,
}

impl Crashing<'_> {
    fn gate(&self) -> Result<(), PortError> {
        if self.writes.fetch_add(1, Ordering::SeqCst) >= self.allowed {
            Err(PortError::transient("crash", "controller killed"))
        } else {
            Ok(())
        }
    }
}

impl SnapshotStore for Crashing<'_> {
    async fn observe(&self, database: &str) -> Result<Vec<Snapshot>, PortError> {
        self.inner.observe(database).await
    }
    async fn create_source(
        &self,
        database: &str,
        id: &str,
        tags: &[(String, String)],
    ) -> Result<(), PortError> {
        self.gate()?;
        self.inner.create_source(database, id, tags).await
    }
    async fn copy(
        &self,
        location: Location,
        arn: &str,
        id: &str,
        key: &str,
        tags: &[(String, String)],
    ) -> Result<(), PortError> {
        self.gate()?;
        self.inner.copy(location, arn, id, key, tags).await
    }
    async fn share(&self, id: &str, account: &str) -> Result<(), PortError> {
        self.gate()?;
        self.inner.share(id, account).await
    }
    async fn delete(&self, location: Location, id: &str) -> Result<(), PortError> {
        self.gate()?;
        self.inner.delete(location, id).await
    }
}

#[tokio::test]
async fn a_controller_killed_between_any_two_steps_converges_without_duplicates() {
    // The cycle has four writes: create, regional copy, share, DR copy.
    for allowed in 0..4 {
        let f = Fixture::new().await;
        let t = now();
        // Ticks that die after `allowed` writes each, until the survivors finish the job.
        for _ in 0..4 {
            let crashing = Crashing {
                inner: &f.store,
                allowed,
                writes: AtomicUsize::new(0),
            };
            let _ = tick(&crashing, &f.policy, t).await.unwrap();
        }
        f.converge(t, 6).await;
        for location in [Location::Source, Location::Regional, Location::Dr] {
            let found = f.at(location).await;
            assert_eq!(
                found.len(),
                1,
                "crash after {allowed} writes: {location:?} has {found:?}"
            );
        }
    }
}

#[tokio::test]
async fn retention_keeps_exactly_n_per_side() {
    let mut f = Fixture::new().await;
    f.policy.keep_count = 2;
    // Five snapshot intervals pass: each time a snapshot falls due (an interval of zero
    // for one tick) and the cycle converges.
    for _ in 0..5 {
        let due = SnapshotPolicy {
            interval_ms: 0,
            ..f.policy.clone()
        };
        tick(&f.store, &due, now()).await.unwrap();
        f.converge(now(), 8).await;
    }
    for location in [Location::Source, Location::Regional, Location::Dr] {
        let found = f.at(location).await;
        assert_eq!(
            found.len(),
            2,
            "{location:?}: {:?}",
            found.iter().map(|s| &s.id).collect::<Vec<_>>()
        );
    }
}

#[tokio::test]
async fn a_database_on_the_aws_managed_key_is_refused_with_the_fix() {
    let database = unique("legacydb");
    let f = Fixture::protecting(&[(&database, DatabaseKind::Instance)]).await;
    f.session
        .rds_in(Side::Primary, &f.topology.primary.region)
        .create_db_instance()
        .db_instance_identifier(&database)
        .db_instance_class("db.t3.micro")
        .engine("postgres")
        .master_username("fleet")
        .master_user_password("sandbox-only-not-a-secret")
        .allocated_storage(20)
        .storage_encrypted(true)
        .kms_key_id("alias/aws/rds")
        .send()
        .await
        .unwrap();
    let mut policy = f.policy.clone();
    policy.database = database;

    let first = tick(&f.store, &policy, now()).await.unwrap();
    assert!(first.failed.is_empty());
    let second = tick(&f.store, &policy, now()).await.unwrap();
    let blocked = second.plan.blocked.first().expect("blocked");
    assert!(matches!(blocked, Blocked::AwsManagedKey { .. }));
    assert!(
        blocked.to_string().contains("customer-managed KMS key"),
        "{blocked}"
    );
    assert!(f
        .store
        .observe(&policy.database)
        .await
        .unwrap()
        .iter()
        .all(|s| s.location == Location::Source));
}

#[tokio::test]
async fn a_missing_database_is_a_clear_error() {
    // Protected in the config, but never created in primary.
    let missing = unique("nosuchdb");
    let f = Fixture::protecting(&[(&missing, DatabaseKind::Instance)]).await;
    let mut policy = f.policy.clone();
    policy.database = missing;
    let report = tick(&f.store, &policy, now()).await.unwrap();
    let (_, error) = &report.failed[0];
    assert!(
        error.message.contains("does not exist in primary"),
        "{error}"
    );
    assert!(!error.retryable);
}

#[tokio::test]
async fn restore_yields_an_available_database_in_dr_and_a_drill_tears_it_down() {
    let f = Fixture::new().await;
    f.converge(now(), 6).await;
    // A drill's scratch database (drill.rs names them so; operators may delete only those).
    let target = format!("{}-drill-{}", f.policy.database, now());
    let request = RestoreRequest {
        kind: DatabaseKind::Instance,
        policy: &f.policy,
        target: &target,
        poll: std::time::Duration::from_millis(200),
        timeout: std::time::Duration::from_secs(60),
        settings: f.policy.restore.for_scratch(),
        tags: Vec::new(),
    };
    let restored = restore_newest(&f.operator_store, &request, now(), tokio::time::sleep)
        .await
        .unwrap();
    assert_eq!(restored.target, target);
    assert!(!restored.endpoint.address.is_empty() && restored.endpoint.port > 0);
    assert_eq!(
        Some(restored.snapshot_id.as_str()),
        f.at(Location::Dr).await.first().map(|s| s.id.as_str())
    );
    let restored = f
        .operator_store
        .database(DatabaseKind::Instance, &target)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(restored.status, "available");

    // The drill's teardown.
    f.operator_store
        .delete_database(DatabaseKind::Instance, &target)
        .await
        .unwrap();
    assert!(f
        .operator_store
        .database(DatabaseKind::Instance, &target)
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn restoring_before_any_copy_reached_dr_says_what_to_do() {
    let f = Fixture::new().await;
    let target = format!("{}-drill-{}", f.policy.database, now());
    let request = RestoreRequest {
        kind: DatabaseKind::Instance,
        policy: &f.policy,
        target: &target,
        poll: std::time::Duration::from_millis(200),
        timeout: std::time::Duration::from_secs(5),
        settings: f.policy.restore.for_scratch(),
        tags: Vec::new(),
    };
    let error = restore_newest(&f.operator_store, &request, now(), tokio::time::sleep)
        .await
        .unwrap_err();
    assert!(
        matches!(error, RestoreError::NothingToRestore(_)),
        "{error}"
    );
    assert!(error.to_string().contains("drctl snapshot now"));
}

#[tokio::test]
async fn an_aurora_cluster_travels_and_restores_the_same_way() {
    let cluster = unique("fleetcluster");
    let f = Fixture::protecting(&[(&cluster, DatabaseKind::Cluster)]).await;
    dr_sandbox::provision::snapshots::ensure_cluster(&f.session, &f.topology, &cluster)
        .await
        .unwrap();
    let controller = as_function(&f.topology, "snapshot-controller").await;
    let store = RdsSnapshotStore::new(&controller, &f.topology, DatabaseKind::Cluster);
    let operator = as_operator(&f.topology).await;
    let operator_store = RdsSnapshotStore::new(&operator, &f.topology, DatabaseKind::Cluster);
    let policy = SnapshotPolicy {
        database: cluster.clone(),
        ..f.policy.clone()
    };
    for _ in 0..6 {
        let report = tick(&store, &policy, now()).await.unwrap();
        assert!(report.failed.is_empty(), "{:?}", report.failed);
        if report.plan.actions.is_empty() {
            break;
        }
    }
    let observed = store.observe(&cluster).await.unwrap();
    let dr: Vec<_> = observed
        .iter()
        .filter(|s| s.location == Location::Dr)
        .collect();
    assert_eq!(dr.len(), 1, "{observed:?}");
    assert!(
        dr[0]
            .arn
            .contains(&format!(":{}:cluster-snapshot:", f.topology.dr.account_id)),
        "{}",
        dr[0].arn
    );

    let target = format!("{cluster}-drill-{}", now());
    let request = RestoreRequest {
        kind: DatabaseKind::Cluster,
        policy: &policy,
        target: &target,
        poll: std::time::Duration::from_millis(200),
        timeout: std::time::Duration::from_secs(60),
        settings: policy.restore.for_scratch(),
        tags: Vec::new(),
    };
    let restored = restore_newest(&operator_store, &request, now(), tokio::time::sleep)
        .await
        .unwrap();
    assert_eq!(restored.snapshot_id, dr[0].id);
    // Available only with its writer, created once the cluster was (the sandbox refuses
    // instances into a cluster still restoring, as RDS does).
    let writer = operator_store
        .database(DatabaseKind::Instance, &format!("{target}-1"))
        .await
        .unwrap()
        .expect("the restore converged on a writer");
    assert_eq!(writer.status, "available");
    operator_store
        .delete_database(DatabaseKind::Cluster, &target)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_kms_key_the_copying_account_cannot_use_is_named_with_the_fix() {
    let f = Fixture::new().await;
    let mut policy = f.policy.clone();
    // A key DR cannot use (here: one that does not exist; on AWS also one whose policy
    // leaves DR out). An unknown *alias* crashes moto 5.2.5, so the test names a key ARN.
    let unusable = format!(
        "arn:aws:kms:{}:{}:key/00000000-0000-4000-8000-000000000000",
        f.topology.dr.region, f.topology.dr.account_id
    );
    policy.dr_kms_key = unusable.clone();
    let mut failure = None;
    for _ in 0..4 {
        let report = tick(&f.store, &policy, now()).await.unwrap();
        if let Some((_, error)) = report.failed.into_iter().next() {
            failure = Some(error);
            break;
        }
    }
    let error = failure.expect("DR's copy fails on the unusable key");
    assert!(
        error.message.contains(&unusable) && error.message.contains("key policy"),
        "{error}"
    );
    assert!(!error.retryable);
}
