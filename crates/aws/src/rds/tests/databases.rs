//! Databases of either kind: restored, read and deleted through the kind's own API.

use aws_sdk_rds::operation::create_db_instance::CreateDbInstanceOutput;
use aws_sdk_rds::operation::delete_db_cluster::DeleteDbClusterOutput;
use aws_sdk_rds::operation::delete_db_instance::DeleteDbInstanceOutput;
use aws_sdk_rds::operation::describe_db_cluster_snapshots::DescribeDbClusterSnapshotsOutput;
use aws_sdk_rds::operation::describe_db_clusters::DescribeDbClustersOutput;
use aws_sdk_rds::operation::describe_db_instances::DescribeDbInstancesOutput;
use aws_sdk_rds::operation::restore_db_cluster_from_snapshot::RestoreDbClusterFromSnapshotOutput;
use aws_sdk_rds::operation::restore_db_instance_from_db_snapshot::RestoreDbInstanceFromDbSnapshotOutput;
use aws_sdk_rds::types::Tag;
use aws_sdk_rds::types::{DbCluster, DbClusterMember, DbClusterSnapshot, DbInstance, Endpoint};
use aws_sdk_rds::Client;
use aws_smithy_mocks::{mock, Rule};
use dr_core::snapshots::{
    DatabaseEndpoint, DatabaseKind, DatabaseRestorer, DescribedDatabase, InstanceCreation,
    RestoreSettings, TAG_RUNBOOK,
};

use super::{store, DATABASE, SNAPSHOT};
use crate::testing::query_error;

fn runbook_tag() -> Tag {
    Tag::builder().key(TAG_RUNBOOK).value("failover-1").build()
}

fn instance(status: &str, endpoint: Option<Endpoint>) -> DbInstance {
    DbInstance::builder()
        .db_instance_identifier(DATABASE)
        .db_instance_status(status)
        .set_endpoint(endpoint)
        .tag_list(runbook_tag())
        .build()
}

fn cluster(status: &str, port: Option<i32>, members: &[&str]) -> DbCluster {
    let members = members
        .iter()
        .map(|m| {
            DbClusterMember::builder()
                .db_instance_identifier(*m)
                .build()
        })
        .collect();
    DbCluster::builder()
        .db_cluster_identifier(DATABASE)
        .status(status)
        .endpoint("fleet-db.cluster.example")
        .set_port(port)
        .set_db_cluster_members(Some(members))
        .engine("aurora-postgresql")
        .tag_list(runbook_tag())
        .build()
}

fn describes_instance(db: DbInstance) -> Rule {
    mock!(Client::describe_db_instances).then_output(move || {
        DescribeDbInstancesOutput::builder()
            .db_instances(db.clone())
            .build()
    })
}

fn describes_cluster(db: DbCluster) -> Rule {
    mock!(Client::describe_db_clusters).then_output(move || {
        DescribeDbClustersOutput::builder()
            .db_clusters(db.clone())
            .build()
    })
}

#[tokio::test]
async fn given_either_kind_available_when_read_then_status_and_endpoint_come_from_its_own_fields() {
    let address = "fleet-db.cluster.example";
    let instance_endpoint = Endpoint::builder().address(address).port(3306).build();
    let as_instance = describes_instance(instance("available", Some(instance_endpoint)));
    let as_cluster = describes_cluster(cluster("available", Some(3306), &["fleet-db-1"]));
    let expected = Some(DescribedDatabase {
        status: "available".to_owned(),
        endpoint: Some(DatabaseEndpoint {
            address: address.to_owned(),
            port: 3306,
        }),
        tags: [(TAG_RUNBOOK.to_owned(), "failover-1".to_owned())].into(),
    });

    for (kind, rule) in [
        (DatabaseKind::Instance, &as_instance),
        (DatabaseKind::Cluster, &as_cluster),
    ] {
        let read = store(kind, &[rule]).database(kind, DATABASE).await.unwrap();
        assert_eq!(read, expected, "{kind:?}");
    }
}

#[tokio::test]
async fn given_either_kind_without_a_port_yet_when_read_then_it_has_no_endpoint_rather_than_a_guessed_one(
) {
    let half_endpoint = Endpoint::builder().address("fleet-db.example").build();
    let as_instance = describes_instance(instance("available", Some(half_endpoint)));
    let as_cluster = describes_cluster(cluster("available", None, &["fleet-db-1"]));

    for (kind, rule) in [
        (DatabaseKind::Instance, &as_instance),
        (DatabaseKind::Cluster, &as_cluster),
    ] {
        let read = store(kind, &[rule]).database(kind, DATABASE).await.unwrap();
        let read = read.unwrap();
        assert_eq!(
            (read.status.as_str(), read.endpoint),
            ("available", None),
            "{kind:?}"
        );
    }
}

#[tokio::test]
async fn given_a_restored_cluster_when_asked_for_an_instance_then_its_engine_is_used_and_not_yet_means_later(
) {
    let available = describes_cluster(cluster("available", Some(5432), &[]));
    let writer = mock!(Client::create_db_instance)
        .match_requests(|r| {
            r.db_instance_identifier() == Some("restored-1")
                && r.db_cluster_identifier() == Some("restored")
                && r.engine() == Some("aurora-postgresql")
                && r.publicly_accessible() == Some(false)
                && r.tags().iter().any(|t| t.key() == Some(TAG_RUNBOOK))
        })
        .then_output(|| CreateDbInstanceOutput::builder().build());
    // Made by an earlier look.
    let reader = mock!(Client::create_db_instance)
        .match_requests(|r| r.db_instance_identifier() == Some("restored-2"))
        .then_http_response(|| query_error(400, "DBInstanceAlreadyExists", "exists"));
    // The cluster not available yet: RDS's answer, a wait rather than an error.
    let early = mock!(Client::create_db_instance)
        .match_requests(|r| r.db_instance_identifier() == Some("restored-3"))
        .then_http_response(|| query_error(400, "InvalidDBClusterStateFault", "creating"));
    let store = store(
        DatabaseKind::Cluster,
        &[&available, &writer, &reader, &early],
    );
    let tags = [(TAG_RUNBOOK.to_owned(), "failover-1".to_owned())];

    let mut created = Vec::new();
    for instance in ["restored-1", "restored-2", "restored-3"] {
        created.push(
            store
                .create_cluster_instance("restored", instance, &settings(), &tags)
                .await
                .unwrap(),
        );
    }

    assert_eq!(
        created,
        [
            InstanceCreation::Started,
            InstanceCreation::Started,
            InstanceCreation::Later
        ]
    );
}

#[tokio::test]
async fn given_either_kind_gone_when_read_or_deleted_then_none_and_done() {
    let instance = [
        mock!(Client::describe_db_instances)
            .then_http_response(|| query_error(404, "DBInstanceNotFound", "gone")),
        mock!(Client::delete_db_instance)
            .then_http_response(|| query_error(404, "DBInstanceNotFound", "gone")),
    ];
    let cluster = [
        mock!(Client::describe_db_clusters)
            .then_http_response(|| query_error(404, "DBClusterNotFoundFault", "gone")),
        mock!(Client::delete_db_cluster)
            .then_http_response(|| query_error(404, "DBClusterNotFoundFault", "gone")),
    ];

    for (kind, rules) in [
        (DatabaseKind::Instance, &instance),
        (DatabaseKind::Cluster, &cluster),
    ] {
        let store = store(kind, &rules.iter().collect::<Vec<_>>());
        assert_eq!(
            store.database(kind, DATABASE).await.unwrap(),
            None,
            "{kind:?}"
        );
        store.delete_database(kind, DATABASE).await.unwrap();
    }
}

/// The drifted pair: a cluster's teardown took "already deleting" (InvalidDBInstanceState)
/// from its member instances as done, an instance's teardown did not, and neither did a
/// cluster's own DeleteDBCluster. Now one rule for all three: RDS refuses a delete of a
/// database already deleting with "invalid state", so that answer is done when the
/// database reads `deleting`.
#[tokio::test]
async fn given_either_kind_already_deleting_when_deleted_again_then_done() {
    let instance_deleting = [
        mock!(Client::delete_db_instance).then_http_response(|| {
            query_error(
                400,
                "InvalidDBInstanceState",
                "Instance fleet-db is already being deleted",
            )
        }),
        describes_instance(instance("deleting", None)),
    ];
    let cluster_deleting = [
        // Its one member is deleting already too.
        describes_cluster(cluster("deleting", Some(5432), &["fleet-db-1"])),
        mock!(Client::delete_db_instance)
            .match_requests(|r| r.db_instance_identifier() == Some("fleet-db-1"))
            .then_http_response(|| {
                query_error(
                    400,
                    "InvalidDBInstanceState",
                    "Instance fleet-db-1 is already being deleted",
                )
            }),
        describes_instance(instance("deleting", None)),
        mock!(Client::delete_db_cluster).then_http_response(|| {
            query_error(
                400,
                "InvalidDBClusterStateFault",
                "Cluster fleet-db is already being deleted",
            )
        }),
    ];

    for (kind, rules) in [
        (DatabaseKind::Instance, &instance_deleting[..]),
        (DatabaseKind::Cluster, &cluster_deleting[..]),
    ] {
        store(kind, &rules.iter().collect::<Vec<_>>())
            .delete_database(kind, DATABASE)
            .await
            .unwrap_or_else(|e| panic!("{kind:?}: {e}"));
    }
}

#[tokio::test]
async fn given_either_kind_in_a_state_that_refuses_a_delete_when_deleted_then_the_refusal_stands() {
    let instance_busy = [
        mock!(Client::delete_db_instance).then_http_response(|| {
            query_error(400, "InvalidDBInstanceState", "Instance is not available")
        }),
        describes_instance(instance("backing-up", None)),
    ];
    let cluster_busy = [
        describes_cluster(cluster("backing-up", Some(5432), &[])),
        mock!(Client::delete_db_cluster).then_http_response(|| {
            query_error(
                400,
                "InvalidDBClusterStateFault",
                "Cluster is not available",
            )
        }),
    ];

    for (kind, rules, operation) in [
        (DatabaseKind::Instance, &instance_busy, "DeleteDBInstance"),
        (DatabaseKind::Cluster, &cluster_busy, "DeleteDBCluster"),
    ] {
        let error = store(kind, &rules.iter().collect::<Vec<_>>())
            .delete_database(kind, DATABASE)
            .await
            .unwrap_err();
        assert_eq!(error.operation, operation, "{kind:?}");
    }
}

#[tokio::test]
async fn given_a_cluster_with_live_instances_when_deleted_then_its_instances_go_first() {
    let live = describes_cluster(cluster(
        "available",
        Some(5432),
        &["fleet-db-1", "fleet-db-2"],
    ));
    let delete_instance = mock!(Client::delete_db_instance)
        .match_requests(|r| r.skip_final_snapshot() == Some(true))
        .then_output(|| DeleteDbInstanceOutput::builder().build());
    let delete_cluster = mock!(Client::delete_db_cluster)
        .match_requests(|r| r.skip_final_snapshot() == Some(true))
        .then_output(|| DeleteDbClusterOutput::builder().build());
    let store = store(
        DatabaseKind::Cluster,
        &[&live, &delete_instance, &delete_cluster],
    );

    store
        .delete_database(DatabaseKind::Cluster, DATABASE)
        .await
        .unwrap();

    assert_eq!(
        [delete_instance.num_calls(), delete_cluster.num_calls()],
        [2, 1]
    );
    assert_eq!(store.calls(), 4, "the describe, two instances, the cluster");
}

fn settings() -> RestoreSettings {
    RestoreSettings {
        subnet_group: Some("app-subnets".to_owned()),
        security_group_ids: vec!["sg-1".to_owned()],
        instances: 2,
        ..RestoreSettings::default()
    }
}

#[tokio::test]
async fn given_an_instance_snapshot_when_restored_then_it_lands_in_the_apps_network_never_public() {
    let restore = mock!(Client::restore_db_instance_from_db_snapshot)
        .match_requests(|r| {
            r.db_snapshot_identifier() == Some(SNAPSHOT)
                && r.db_instance_identifier() == Some("restored")
                && r.db_subnet_group_name() == Some("app-subnets")
                && r.vpc_security_group_ids() == ["sg-1"]
                && r.publicly_accessible() == Some(false)
        })
        .then_output(|| RestoreDbInstanceFromDbSnapshotOutput::builder().build());

    store(DatabaseKind::Instance, &[&restore])
        .restore(
            DatabaseKind::Instance,
            SNAPSHOT,
            "restored",
            &settings(),
            &[],
        )
        .await
        .unwrap();

    assert_eq!(restore.num_calls(), 1);
}

#[tokio::test]
async fn given_a_cluster_snapshot_when_restored_then_the_cluster_runs_its_engine_tagged_and_alone()
{
    let snapshot = mock!(Client::describe_db_cluster_snapshots)
        .match_requests(|r| r.db_cluster_snapshot_identifier() == Some(SNAPSHOT))
        .then_output(|| {
            let snapshot = DbClusterSnapshot::builder()
                .engine("aurora-mysql")
                .engine_version("8.0.mysql_aurora.3.05.2")
                .build();
            DescribeDbClusterSnapshotsOutput::builder()
                .db_cluster_snapshots(snapshot)
                .build()
        });
    let restore = mock!(Client::restore_db_cluster_from_snapshot)
        .match_requests(|r| {
            r.engine() == Some("aurora-mysql")
                && r.engine_version() == Some("8.0.mysql_aurora.3.05.2")
                && r.db_subnet_group_name() == Some("app-subnets")
                && r.tags().iter().any(|t| t.key() == Some(TAG_RUNBOOK))
        })
        .then_output(|| RestoreDbClusterFromSnapshotOutput::builder().build());
    // RDS takes no instance before the cluster is available: none is asked for here.
    let instance =
        mock!(Client::create_db_instance).then_output(|| CreateDbInstanceOutput::builder().build());
    let tags = [(TAG_RUNBOOK.to_owned(), "failover-1".to_owned())];

    store(DatabaseKind::Cluster, &[&snapshot, &restore, &instance])
        .restore(
            DatabaseKind::Cluster,
            SNAPSHOT,
            "restored",
            &settings(),
            &tags,
        )
        .await
        .unwrap();

    assert_eq!([restore.num_calls(), instance.num_calls()], [1, 0]);
}

#[tokio::test]
async fn given_either_kind_restored_before_when_restored_again_then_done() {
    let instance = mock!(Client::restore_db_instance_from_db_snapshot)
        .then_http_response(|| query_error(400, "DBInstanceAlreadyExists", "exists"));
    let cluster = [
        mock!(Client::describe_db_cluster_snapshots).then_output(|| {
            DescribeDbClusterSnapshotsOutput::builder()
                .db_cluster_snapshots(
                    DbClusterSnapshot::builder()
                        .engine("aurora-postgresql")
                        .build(),
                )
                .build()
        }),
        mock!(Client::restore_db_cluster_from_snapshot)
            .then_http_response(|| query_error(400, "DBClusterAlreadyExistsFault", "exists")),
    ];

    store(DatabaseKind::Instance, &[&instance])
        .restore(
            DatabaseKind::Instance,
            SNAPSHOT,
            "restored",
            &settings(),
            &[],
        )
        .await
        .unwrap();
    store(DatabaseKind::Cluster, &cluster.iter().collect::<Vec<_>>())
        .restore(
            DatabaseKind::Cluster,
            SNAPSHOT,
            "restored",
            &settings(),
            &[],
        )
        .await
        .unwrap();
}
