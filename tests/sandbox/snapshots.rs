//! The launcher's RDS patches: DR can copy an RDS snapshot primary shared with it, and
//! only then, as on AWS; a DB subnet group's name is taken once.

use aws_sdk_rds::error::ProvideErrorMetadata;
use dr_core::Side;

use crate::helpers::{shared_session, unique};

#[tokio::test]
async fn dr_copies_a_shared_snapshot_but_not_an_unshared_one() {
    let (session, topology) = shared_session().await;
    // Primary's account in the DR region: where flow C's cross-region copy lands.
    let primary_rds = session.rds_in(Side::Primary, &topology.dr.region);
    let dr_rds = session.rds_in(Side::Dr, &topology.dr.region);
    let instance = unique("fleetdb");
    let snapshot = unique("fleetdb-snap");

    primary_rds
        .create_db_instance()
        .db_instance_identifier(&instance)
        .db_instance_class("db.t3.micro")
        .engine("postgres")
        .master_username("fleet")
        .master_user_password("not-a-real-password")
        .allocated_storage(20)
        .send()
        .await
        .unwrap();
    let source = primary_rds
        .create_db_snapshot()
        .db_instance_identifier(&instance)
        .db_snapshot_identifier(&snapshot)
        .send()
        .await
        .unwrap();
    let source_arn = source
        .db_snapshot()
        .unwrap()
        .db_snapshot_arn()
        .unwrap()
        .to_owned();

    // Unshared: DR cannot even see it.
    let unshared = dr_rds
        .copy_db_snapshot()
        .source_db_snapshot_identifier(&source_arn)
        .target_db_snapshot_identifier(unique("dr-copy"))
        .send()
        .await
        .expect_err("an unshared snapshot must not be copyable");
    assert_eq!(unshared.code(), Some("DBSnapshotNotFound"), "{unshared:?}");

    // Shared with DR: the copy succeeds and belongs to DR.
    primary_rds
        .modify_db_snapshot_attribute()
        .db_snapshot_identifier(&snapshot)
        .attribute_name("restore")
        .values_to_add(topology.dr.account_id.as_str())
        .send()
        .await
        .unwrap();
    let copy_name = unique("dr-copy");
    let copy = dr_rds
        .copy_db_snapshot()
        .source_db_snapshot_identifier(&source_arn)
        .target_db_snapshot_identifier(&copy_name)
        .send()
        .await
        .unwrap();
    let copy_arn = copy.db_snapshot().unwrap().db_snapshot_arn().unwrap();
    assert!(
        copy_arn.contains(&format!(":{}:snapshot:{copy_name}", topology.dr.account_id)),
        "{copy_arn}"
    );

    // Shared with someone else only: still invisible to DR.
    let other_snapshot = unique("fleetdb-snap");
    let other = primary_rds
        .create_db_snapshot()
        .db_instance_identifier(&instance)
        .db_snapshot_identifier(&other_snapshot)
        .send()
        .await
        .unwrap();
    primary_rds
        .modify_db_snapshot_attribute()
        .db_snapshot_identifier(&other_snapshot)
        .attribute_name("restore")
        .values_to_add("333333333333")
        .send()
        .await
        .unwrap();
    let wrong_account = dr_rds
        .copy_db_snapshot()
        .source_db_snapshot_identifier(other.db_snapshot().unwrap().db_snapshot_arn().unwrap())
        .target_db_snapshot_identifier(unique("dr-copy"))
        .send()
        .await
        .expect_err("a snapshot shared with another account must not be copyable");
    assert_eq!(wrong_account.code(), Some("DBSnapshotNotFound"));
}

/// Plain moto replaces a DB subnet group of a name in use; AWS refuses the second one, and
/// provisioning relies on that to tell "created" from "already there".
#[tokio::test]
async fn a_second_db_subnet_group_of_one_name_is_refused_as_aws_refuses_it() {
    let (session, topology) = shared_session().await;
    let rds = session.rds_in(Side::Dr, &topology.dr.region);
    // The provisioned application network's subnets.
    dr_sandbox::provision(&topology).await.unwrap();
    let provisioned = topology.snapshots.databases[0]
        .subnet_group
        .as_ref()
        .expect("the sandbox config names a subnet group");
    let described = rds
        .describe_db_subnet_groups()
        .db_subnet_group_name(provisioned.as_str())
        .send()
        .await
        .unwrap();
    let network: Vec<String> = described.db_subnet_groups()[0]
        .subnets()
        .iter()
        .filter_map(|s| s.subnet_identifier().map(str::to_owned))
        .collect();
    let name = unique("app-db");
    let create = || {
        rds.create_db_subnet_group()
            .db_subnet_group_name(&name)
            .db_subnet_group_description("the application's network")
            .set_subnet_ids(Some(network.clone()))
            .send()
    };
    create().await.unwrap();
    let again = create().await.expect_err("the name is taken");
    assert_eq!(
        again.code(),
        Some("DBSubnetGroupAlreadyExists"),
        "{again:?}"
    );
}
