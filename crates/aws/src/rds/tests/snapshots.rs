//! Snapshots of either kind: taken, copied, shared, listed and deleted through the kind's
//! own API.

use aws_sdk_kms::types::{KeyManagerType, KeyMetadata};
use aws_sdk_rds::operation::create_db_cluster_snapshot::CreateDbClusterSnapshotOutput;
use aws_sdk_rds::operation::create_db_snapshot::CreateDbSnapshotOutput;
use aws_sdk_rds::operation::describe_db_cluster_snapshot_attributes::DescribeDbClusterSnapshotAttributesOutput;
use aws_sdk_rds::operation::describe_db_cluster_snapshots::DescribeDbClusterSnapshotsOutput;
use aws_sdk_rds::operation::describe_db_snapshot_attributes::DescribeDbSnapshotAttributesOutput;
use aws_sdk_rds::operation::describe_db_snapshots::DescribeDbSnapshotsOutput;
use aws_sdk_rds::types::{
    DbClusterSnapshot, DbClusterSnapshotAttribute, DbClusterSnapshotAttributesResult, DbSnapshot,
    DbSnapshotAttribute, DbSnapshotAttributesResult, Tag,
};
use aws_sdk_rds::Client;
use aws_smithy_mocks::{mock, Rule};
use aws_smithy_types::DateTime;
use dr_core::snapshots::{
    DatabaseKind, Location, Snapshot, SnapshotState, SnapshotStore, TAG_DATABASE,
};

use super::{has_our_tag, store, tags, DATABASE, KEY, SNAPSHOT};
use crate::rds::RdsSnapshotStore;
use crate::testing::{kms, query_error, rds};

#[tokio::test]
async fn given_either_kind_when_a_source_snapshot_is_taken_then_its_own_api_names_the_database() {
    let instance_call = mock!(Client::create_db_snapshot)
        .match_requests(|r| {
            r.db_instance_identifier() == Some(DATABASE)
                && r.db_snapshot_identifier() == Some(SNAPSHOT)
                && has_our_tag(r.tags())
        })
        .then_output(|| CreateDbSnapshotOutput::builder().build());
    let cluster_call = mock!(Client::create_db_cluster_snapshot)
        .match_requests(|r| {
            r.db_cluster_identifier() == Some(DATABASE)
                && r.db_cluster_snapshot_identifier() == Some(SNAPSHOT)
                && has_our_tag(r.tags())
        })
        .then_output(|| CreateDbClusterSnapshotOutput::builder().build());
    let rules = [&instance_call, &cluster_call];

    for kind in [DatabaseKind::Instance, DatabaseKind::Cluster] {
        store(kind, &rules)
            .create_source(DATABASE, SNAPSHOT, &tags())
            .await
            .unwrap();
    }

    assert_eq!(
        [instance_call.num_calls(), cluster_call.num_calls()],
        [1, 1]
    );
}

#[tokio::test]
async fn given_either_kind_when_the_snapshot_is_already_there_then_taking_or_copying_it_is_done() {
    let instance = [
        mock!(Client::create_db_snapshot)
            .then_http_response(|| query_error(400, "DBSnapshotAlreadyExists", "exists")),
        mock!(Client::copy_db_snapshot)
            .then_http_response(|| query_error(400, "DBSnapshotAlreadyExists", "exists")),
    ];
    let cluster = [
        mock!(Client::create_db_cluster_snapshot).then_http_response(|| {
            query_error(400, "DBClusterSnapshotAlreadyExistsFault", "exists")
        }),
        mock!(Client::copy_db_cluster_snapshot).then_http_response(|| {
            query_error(400, "DBClusterSnapshotAlreadyExistsFault", "exists")
        }),
    ];

    for (kind, rules) in [
        (DatabaseKind::Instance, &instance),
        (DatabaseKind::Cluster, &cluster),
    ] {
        let store = store(kind, &rules.iter().collect::<Vec<_>>());
        store
            .create_source(DATABASE, SNAPSHOT, &tags())
            .await
            .unwrap();
        store
            .copy(Location::Regional, "arn:source", SNAPSHOT, KEY, &tags())
            .await
            .unwrap();
        assert!(rules.iter().all(|r| r.num_calls() == 1), "{kind:?}");
    }
}

#[tokio::test]
async fn given_either_kind_when_its_database_is_missing_then_taking_a_snapshot_says_fix_the_config()
{
    let instance = mock!(Client::create_db_snapshot)
        .then_http_response(|| query_error(404, "DBInstanceNotFound", "no such instance"));
    let cluster = mock!(Client::create_db_cluster_snapshot)
        .then_http_response(|| query_error(404, "DBClusterNotFoundFault", "no such cluster"));

    for (kind, rule, operation) in [
        (DatabaseKind::Instance, &instance, "CreateDBSnapshot"),
        (DatabaseKind::Cluster, &cluster, "CreateDBClusterSnapshot"),
    ] {
        let error = store(kind, &[rule])
            .create_source(DATABASE, SNAPSHOT, &tags())
            .await
            .unwrap_err();

        assert!(!error.retryable, "{kind:?}: {error:?}");
        assert_eq!(error.operation, operation);
        assert!(error.message.contains("[[snapshots.databases]]"), "{error}");
    }
}

#[tokio::test]
async fn given_either_kind_when_a_snapshot_is_already_gone_then_deleting_it_is_done() {
    let instance = mock!(Client::delete_db_snapshot)
        .match_requests(|r| r.db_snapshot_identifier() == Some(SNAPSHOT))
        .then_http_response(|| query_error(404, "DBSnapshotNotFound", "gone"));
    let cluster = mock!(Client::delete_db_cluster_snapshot)
        .match_requests(|r| r.db_cluster_snapshot_identifier() == Some(SNAPSHOT))
        .then_http_response(|| query_error(404, "DBClusterSnapshotNotFoundFault", "gone"));

    for (kind, rule) in [
        (DatabaseKind::Instance, &instance),
        (DatabaseKind::Cluster, &cluster),
    ] {
        store(kind, &[rule])
            .delete(Location::Dr, SNAPSHOT)
            .await
            .unwrap();
        assert_eq!(rule.num_calls(), 1, "{kind:?}");
    }
}

#[tokio::test]
async fn given_either_kind_when_shared_then_its_restore_attribute_names_the_account() {
    let instance = mock!(Client::modify_db_snapshot_attribute)
        .match_requests(|r| {
            r.attribute_name() == Some("restore") && r.values_to_add() == ["222222222222"]
        })
        .then_output(|| {
            aws_sdk_rds::operation::modify_db_snapshot_attribute::ModifyDbSnapshotAttributeOutput::builder().build()
        });
    let cluster = mock!(Client::modify_db_cluster_snapshot_attribute)
        .match_requests(|r| {
            r.attribute_name() == Some("restore") && r.values_to_add() == ["222222222222"]
        })
        .then_output(|| {
            aws_sdk_rds::operation::modify_db_cluster_snapshot_attribute::ModifyDbClusterSnapshotAttributeOutput::builder().build()
        });

    for (kind, rule) in [
        (DatabaseKind::Instance, &instance),
        (DatabaseKind::Cluster, &cluster),
    ] {
        store(kind, &[rule])
            .share(SNAPSHOT, "222222222222")
            .await
            .unwrap();
        assert_eq!(rule.num_calls(), 1, "{kind:?}");
    }
}

/// The snapshot both kinds' listings describe, as the store must observe it.
fn observed(id: &str, location: Location, shared_with: &[&str]) -> Snapshot {
    Snapshot {
        id: id.to_owned(),
        arn: format!("arn:{id}"),
        location,
        state: SnapshotState::Available,
        created_ms: 1_700_000_000_000,
        tags: [(TAG_DATABASE.to_owned(), DATABASE.to_owned())].into(),
        kms_key_id: Some(KEY.to_owned()),
        aws_managed_key: false,
        shared_with: shared_with.iter().map(|a| (*a).to_owned()).collect(),
    }
}

fn our_tag() -> Tag {
    Tag::builder().key(TAG_DATABASE).value(DATABASE).build()
}

fn other_databases_tag() -> Tag {
    Tag::builder().key(TAG_DATABASE).value("another-db").build()
}

fn instance_snapshot(id: &str, tag: Tag) -> DbSnapshot {
    DbSnapshot::builder()
        .db_snapshot_identifier(id)
        .db_snapshot_arn(format!("arn:{id}"))
        .status("available")
        .snapshot_create_time(DateTime::from_millis(1_700_000_000_000))
        .tag_list(tag)
        .kms_key_id(KEY)
        .build()
}

fn cluster_snapshot(id: &str, tag: Tag) -> DbClusterSnapshot {
    DbClusterSnapshot::builder()
        .db_cluster_snapshot_identifier(id)
        .db_cluster_snapshot_arn(format!("arn:{id}"))
        .status("available")
        .snapshot_create_time(DateTime::from_millis(1_700_000_000_000))
        .tag_list(tag)
        .kms_key_id(KEY)
        .build()
}

/// A customer-managed key: KMS describes it so.
fn customer_key() -> Rule {
    mock!(aws_sdk_kms::Client::describe_key).then_output(|| {
        aws_sdk_kms::operation::describe_key::DescribeKeyOutput::builder()
            .key_metadata(
                KeyMetadata::builder()
                    .key_id(KEY)
                    .key_manager(KeyManagerType::Customer)
                    .build()
                    .expect("a key id"),
            )
            .build()
    })
}

#[tokio::test]
async fn given_either_kind_when_observed_then_it_reads_the_same_snapshots_from_its_own_fields_across_pages(
) {
    // Source: two pages (ours, then ours and another database's); regional: one copy,
    // shared with DR; DR: none yet.
    let instance_source = [
        mock!(Client::describe_db_snapshots)
            .match_requests(|r| r.marker().is_none() && r.snapshot_type() == Some("manual"))
            .then_output(|| {
                DescribeDbSnapshotsOutput::builder()
                    .db_snapshots(instance_snapshot("s1", our_tag()))
                    .marker("page-2")
                    .build()
            }),
        mock!(Client::describe_db_snapshots)
            .match_requests(|r| r.marker() == Some("page-2"))
            .then_output(|| {
                DescribeDbSnapshotsOutput::builder()
                    .db_snapshots(instance_snapshot("s2", our_tag()))
                    .db_snapshots(instance_snapshot("x", other_databases_tag()))
                    .build()
            }),
    ];
    let instance_regional = [
        mock!(Client::describe_db_snapshots).then_output(|| {
            DescribeDbSnapshotsOutput::builder()
                .db_snapshots(instance_snapshot("r1", our_tag()))
                .build()
        }),
        mock!(Client::describe_db_snapshot_attributes)
            .match_requests(|r| r.db_snapshot_identifier() == Some("r1"))
            .then_output(|| {
                let restore = DbSnapshotAttribute::builder()
                    .attribute_name("restore")
                    .attribute_values("222222222222")
                    .build();
                DescribeDbSnapshotAttributesOutput::builder()
                    .db_snapshot_attributes_result(
                        DbSnapshotAttributesResult::builder()
                            .db_snapshot_attributes(restore)
                            .build(),
                    )
                    .build()
            }),
    ];
    let instance_dr = mock!(Client::describe_db_snapshots)
        .then_output(|| DescribeDbSnapshotsOutput::builder().build());
    let cluster_source = [
        mock!(Client::describe_db_cluster_snapshots)
            .match_requests(|r| r.marker().is_none() && r.snapshot_type() == Some("manual"))
            .then_output(|| {
                DescribeDbClusterSnapshotsOutput::builder()
                    .db_cluster_snapshots(cluster_snapshot("s1", our_tag()))
                    .marker("page-2")
                    .build()
            }),
        mock!(Client::describe_db_cluster_snapshots)
            .match_requests(|r| r.marker() == Some("page-2"))
            .then_output(|| {
                DescribeDbClusterSnapshotsOutput::builder()
                    .db_cluster_snapshots(cluster_snapshot("s2", our_tag()))
                    .db_cluster_snapshots(cluster_snapshot("x", other_databases_tag()))
                    .build()
            }),
    ];
    let cluster_regional = [
        mock!(Client::describe_db_cluster_snapshots).then_output(|| {
            DescribeDbClusterSnapshotsOutput::builder()
                .db_cluster_snapshots(cluster_snapshot("r1", our_tag()))
                .build()
        }),
        mock!(Client::describe_db_cluster_snapshot_attributes)
            .match_requests(|r| r.db_cluster_snapshot_identifier() == Some("r1"))
            .then_output(|| {
                let restore = DbClusterSnapshotAttribute::builder()
                    .attribute_name("restore")
                    .attribute_values("222222222222")
                    .build();
                DescribeDbClusterSnapshotAttributesOutput::builder()
                    .db_cluster_snapshot_attributes_result(
                        DbClusterSnapshotAttributesResult::builder()
                            .db_cluster_snapshot_attributes(restore)
                            .build(),
                    )
                    .build()
            }),
    ];
    let cluster_dr = mock!(Client::describe_db_cluster_snapshots)
        .then_output(|| DescribeDbClusterSnapshotsOutput::builder().build());
    let key = customer_key();
    let expected = vec![
        observed("s1", Location::Source, &[]),
        observed("s2", Location::Source, &[]),
        observed("r1", Location::Regional, &["222222222222"]),
    ];

    for (kind, source, regional, dr) in [
        (
            DatabaseKind::Instance,
            &instance_source,
            &instance_regional,
            &instance_dr,
        ),
        (
            DatabaseKind::Cluster,
            &cluster_source,
            &cluster_regional,
            &cluster_dr,
        ),
    ] {
        let store = RdsSnapshotStore::on(
            kind,
            rds(&source.iter().collect::<Vec<_>>()),
            rds(&regional.iter().collect::<Vec<_>>()),
            rds(&[dr]),
            kms(&[&key]),
        );

        let snapshots = store.observe(DATABASE).await.unwrap();

        assert_eq!(snapshots, expected, "{kind:?}");
        // Two source pages, one DescribeKey (one key), the regional page and its
        // attributes, DR's page.
        assert_eq!(store.calls(), 6, "{kind:?}");
    }
}
