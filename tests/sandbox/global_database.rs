//! Aurora Global Database as the third restore source: the sandbox's model of a secondary
//! in the DR region (the launcher's `patch_rds_global_database`: a replication-lag metric,
//! a detach-and-promote called in the DR region that takes time), and a failover that
//! promotes it, finishes, and reports its RPO before and after.

use std::time::Instant;

use aws_sdk_rds::types::Tag;
use dr_aws::backups::RdsReplicatedBackups;
use dr_aws::AwsSession;
use dr_core::failover::Mode;
use dr_core::snapshots::{
    cluster_instance, DatabaseKind, GlobalSecondaryStore, TAG_DATA_TIME, TAG_RUNBOOK,
};
use dr_core::{FlipMode, Side, Topology};

use crate::failover::{finish_runbook, now, World};
use crate::helpers::{admin, as_operator, shared_endpoint, topology_for, unique};
use crate::primary_endpoint::PrimaryEndpoint;
use dr_aws::readiness::{readiness, Check, Verdict};

/// The lag the test's secondary reports (its `sandbox:replication-lag-ms` tag).
const LAG_MS: i64 = 1500;

/// A global database `<name>-global`: its primary cluster `<name>` in primary's region and a
/// headless secondary `<name>-west` in the DR region, both in primary's account.
async fn global_database(session: &AwsSession, topology: &Topology, name: &str) -> String {
    let primary = session.rds_in(Side::Primary, &topology.primary.region);
    let created = primary
        .create_db_cluster()
        .db_cluster_identifier(name)
        .engine("aurora-postgresql")
        .master_username("fleet")
        .master_user_password("sandbox-only-not-a-secret")
        .send()
        .await
        .unwrap();
    let arn = created
        .db_cluster()
        .unwrap()
        .db_cluster_arn()
        .unwrap()
        .to_owned();
    primary
        .create_global_cluster()
        .global_cluster_identifier(format!("{name}-global"))
        .source_db_cluster_identifier(arn)
        .send()
        .await
        .unwrap();
    let secondary = format!("{name}-west");
    session
        .rds_in(Side::Primary, &topology.dr.region)
        .create_db_cluster()
        .db_cluster_identifier(&secondary)
        .engine("aurora-postgresql")
        .global_cluster_identifier(format!("{name}-global"))
        .tags(
            Tag::builder()
                .key("sandbox:replication-lag-ms")
                .value(LAG_MS.to_string())
                .build(),
        )
        .send()
        .await
        .unwrap();
    secondary
}

/// `drctl readiness`'s restore-source check of `database`, as operators run it.
async fn restore_source_check(world: &World, database: &str) -> Check {
    let operator = as_operator(&world.topology).await;
    // Boxed: every check's future at once is larger than a test thread's stack.
    Box::pin(readiness(&operator, &world.topology))
        .await
        .checks
        .into_iter()
        .find(|c| c.name == format!("restore source of {database}"))
        .expect("a restore-source check")
}

/// The data time the runbook recorded on the promoted cluster.
async fn promoted_data_ms(world: &World, secondary: &str) -> String {
    let store = RdsReplicatedBackups::new(&world.session, &world.topology);
    let promoted = store.secondary(secondary).await.unwrap().unwrap();
    promoted.tags[TAG_DATA_TIME].clone()
}

#[tokio::test]
async fn the_sandbox_secondary_lags_and_its_detach_in_the_dr_region_takes_time() {
    // Fails on plain moto: no lag datapoint; RemoveFromGlobalCluster called in the DR
    // region answers success and leaves the secondary a member; and a detach is instant.
    let topology = topology_for(&shared_endpoint());
    let session = admin(&topology).await;
    let name = unique("gdb");
    let secondary = global_database(&session, &topology, &name).await;
    let store = RdsReplicatedBackups::new(&session, &topology);

    let found = store
        .secondary(&secondary)
        .await
        .unwrap()
        .expect("the secondary");
    assert_eq!(
        found.global_cluster.as_deref(),
        Some(format!("{name}-global").as_str())
    );
    let lag = found.lag.expect("a lag datapoint");
    assert_eq!(lag.lag_ms, LAG_MS);
    assert!(now() - lag.at_ms <= 60_000, "{lag:?}");

    store
        .detach(found.global_cluster.as_deref().unwrap(), &found.arn)
        .await
        .unwrap();
    let promoting = store.secondary(&secondary).await.unwrap().unwrap();
    assert_eq!(
        promoting.global_cluster, None,
        "detached from the DR region"
    );
    assert_eq!(
        promoting.status, "modifying",
        "Aurora takes time to promote"
    );
    assert_eq!(
        promoting.lag, None,
        "a standalone cluster replicates nothing"
    );
    let started = Instant::now();
    loop {
        let status = store.secondary(&secondary).await.unwrap().unwrap().status;
        if status == "available" {
            break;
        }
        assert!(started.elapsed().as_secs() < 60, "still {status}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    // Not a member any more: a second detach is refused as AWS refuses it.
    let again = store
        .detach(&format!("{name}-global"), &found.arn)
        .await
        .unwrap_err();
    assert!(again.message.contains("not a member"), "{again}");
}

#[tokio::test]
async fn an_aurora_failover_promotes_the_global_secondary_in_the_dr_region_and_reports_its_rpo() {
    let endpoint = PrimaryEndpoint::start().await;
    let cluster = unique("gdbfo");
    let secondary_name = format!("{cluster}-west");
    let world = World::configured(&shared_endpoint(), &endpoint, FlipMode::DataPlane, |t| {
        t.snapshots.databases.truncate(1);
        let db = &mut t.snapshots.databases[0];
        db.identifier = cluster.parse().unwrap();
        db.kind = DatabaseKind::Cluster;
        db.backup_replication = None;
        db.global_secondary = Some(dr_core::config::GlobalSecondaryConfig {
            cluster: secondary_name.parse().unwrap(),
            instances: None,
        });
    })
    .await;
    let secondary = global_database(&world.session, &world.topology, &cluster).await;
    // Readiness shows the secondary's lag, read in the DR region.
    let before = restore_source_check(&world, &cluster).await;
    assert!(
        before.detail.contains(&format!(
            "global database {cluster}-global's secondary {secondary} in {}: replication lag {LAG_MS} ms",
            world.topology.dr.region
        )),
        "{before:?}"
    );
    let ports = world.ports();
    let controller = ports.controller();

    // The figure: from the decision to the promoted cluster serving with its writer.
    let started = Instant::now();
    let decided = controller
        .force_failover("oncall", "regional outage", now())
        .await
        .unwrap();
    assert_eq!(decided.record.state.mode, Mode::FailedOver);
    let runbook = finish_runbook(&controller, decided).await;
    let promotion = started.elapsed();

    // Promoted in place in the DR region (primary's account), with its RPO before...
    let notes = runbook.notes.join("\n");
    assert!(
        notes.contains(&format!("PROMOTING {secondary} in place"))
            && notes.contains(&format!("RPO before promotion {LAG_MS} ms")),
        "{notes}"
    );
    // ...and after: the promoted cluster's data time, and its writer created once available.
    let last = runbook.notes.last().unwrap();
    assert!(
        last.contains(&format!("{secondary} (promoted) available at"))
            && last.contains(&format!(
                "data time {}",
                promoted_data_ms(&world, &secondary).await
            )),
        "{notes}"
    );
    let store = RdsReplicatedBackups::new(&world.session, &world.topology);
    let promoted = store.secondary(&secondary).await.unwrap().unwrap();
    assert_eq!(promoted.global_cluster, None);
    assert_eq!(promoted.tags[TAG_RUNBOOK], runbook.id);
    assert_eq!(promoted.members, [cluster_instance(&secondary, 1)]);
    let data_ms: i64 = promoted.tags[TAG_DATA_TIME].parse().unwrap();
    let rpo_ms = runbook.started_ms - data_ms;
    // The lag datapoint is read as its minute (a lower bound of the data time), so the RPO
    // after is the lag plus up to a minute.
    assert!((LAG_MS..=60_000 + LAG_MS).contains(&rpo_ms), "{rpo_ms}");
    let audits = world.audits().await;
    let audited = audits.iter().find(|a| a.runbook.id == runbook.id).unwrap();
    assert!(
        audited
            .runbook
            .notes
            .iter()
            .any(|n| n.contains("RPO before promotion")),
        "{:?}",
        audited.runbook.notes
    );
    // Promoted, it is no source for another failover: readiness fails and says why.
    let after = restore_source_check(&world, &cluster).await;
    assert_eq!(after.verdict, Verdict::Fail, "{after:?}");
    assert!(after.detail.contains("NOT reusable"), "{after:?}");
    eprintln!(
        "FIGURE aurora-global-promotion: decided → promoted cluster serving {:.1} s (sandbox promotion {} s, restore {} s); RPO before {LAG_MS} ms (replication lag), after {rpo_ms} ms (runbook start − promoted data time)",
        promotion.as_secs_f64(),
        std::env::var("DRCTL_SANDBOX_PROMOTE_SECONDS").unwrap_or_else(|_| "the restore's".into()),
        std::env::var("DRCTL_SANDBOX_RESTORE_SECONDS").unwrap_or_else(|_| "2".into()),
    );
}
