//! The launcher's RDS patches: DR can copy an RDS snapshot primary shared with it, and
//! only then, as on AWS; a DB subnet group's name is taken once; a restore stays
//! `creating` for a while, and a restored cluster takes DB instances only once available.

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

/// Plain moto restores instantly (a cluster reports `creating` once) and lets a restored
/// cluster take instances at once. AWS restores asynchronously and answers CreateDBInstance
/// into a cluster that is not available yet with InvalidDBClusterStateFault: "You can
/// create DB instances only after the RestoreDBClusterFromSnapshot operation has completed
/// and the DB cluster is available."
#[tokio::test]
async fn a_restore_stays_creating_and_its_cluster_takes_instances_only_once_available() {
    let (session, topology) = shared_session().await;
    let rds = session.rds_in(Side::Dr, &topology.dr.region);
    let (instance, cluster) = (unique("slowdb"), unique("slowcl"));
    rds.create_db_instance()
        .db_instance_identifier(&instance)
        .db_instance_class("db.t3.micro")
        .engine("postgres")
        .master_username("fleet")
        .master_user_password("not-a-real-password")
        .allocated_storage(20)
        .send()
        .await
        .unwrap();
    rds.create_db_snapshot()
        .db_instance_identifier(&instance)
        .db_snapshot_identifier(format!("{instance}-s"))
        .send()
        .await
        .unwrap();
    rds.create_db_cluster()
        .db_cluster_identifier(&cluster)
        .engine("aurora-postgresql")
        .master_username("fleet")
        .master_user_password("not-a-real-password")
        .send()
        .await
        .unwrap();
    rds.create_db_cluster_snapshot()
        .db_cluster_identifier(&cluster)
        .db_cluster_snapshot_identifier(format!("{cluster}-s"))
        .send()
        .await
        .unwrap();

    let restored_instance = format!("{instance}-r");
    rds.restore_db_instance_from_db_snapshot()
        .db_snapshot_identifier(format!("{instance}-s"))
        .db_instance_identifier(&restored_instance)
        .send()
        .await
        .unwrap();
    let restored_cluster = format!("{cluster}-r");
    rds.restore_db_cluster_from_snapshot()
        .snapshot_identifier(format!("{cluster}-s"))
        .db_cluster_identifier(&restored_cluster)
        .engine("aurora-postgresql")
        .send()
        .await
        .unwrap();
    let instance_status = || async {
        rds.describe_db_instances()
            .db_instance_identifier(&restored_instance)
            .send()
            .await
            .unwrap()
            .db_instances()[0]
            .db_instance_status()
            .map(str::to_owned)
    };
    let cluster_described = || async {
        rds.describe_db_clusters()
            .db_cluster_identifier(&restored_cluster)
            .send()
            .await
            .unwrap()
            .db_clusters()[0]
            .clone()
    };
    let create_member = || {
        rds.create_db_instance()
            .db_instance_identifier(format!("{restored_cluster}-1"))
            .db_cluster_identifier(&restored_cluster)
            .engine("aurora-postgresql")
            .db_instance_class("db.r6g.large")
            .send()
    };

    // Described twice: moto's own cluster says `creating` once only.
    for _ in 0..2 {
        assert_eq!(instance_status().await.as_deref(), Some("creating"));
        let described = cluster_described().await;
        assert_eq!(described.status(), Some("creating"));
        assert!(described.db_cluster_members().is_empty(), "{described:?}");
    }
    let refused = create_member()
        .await
        .expect_err("no instance before the cluster is available");
    assert_eq!(
        refused.code(),
        Some("InvalidDBClusterStateFault"),
        "{refused:?}"
    );

    // Then both become available (the sandbox's restore time, a few seconds by default),
    // and the cluster takes its writer.
    let mut waited = 0;
    while cluster_described().await.status() != Some("available") {
        assert!(waited < 120, "the restore never finished");
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        waited += 1;
    }
    assert_eq!(instance_status().await.as_deref(), Some("available"));
    create_member().await.unwrap();
    let members: Vec<_> = cluster_described()
        .await
        .db_cluster_members()
        .iter()
        .filter_map(|m| m.db_instance_identifier().map(str::to_owned))
        .collect();
    assert_eq!(members, [format!("{restored_cluster}-1")]);
}

/// Plain moto (with the lookup of shared snapshots above) copies another account's shared
/// snapshot straight into another Region; Aurora refuses ("You can't copy a DB cluster
/// snapshot across Regions and accounts in a single step"), and failback's carry-back
/// (carry_back.rs) is built on two steps for it: copied in the DR region, then across.
#[tokio::test]
async fn a_shared_snapshot_is_copied_across_accounts_in_its_own_region_only() {
    let (session, topology) = shared_session().await;
    let dr_rds = session.rds_in(Side::Dr, &topology.dr.region);
    let primary_in_dr = session.rds_in(Side::Primary, &topology.dr.region);
    let primary_home = session.rds_in(Side::Primary, &topology.primary.region);
    let instance = unique("fleetdb");
    let snapshot = unique("fleetdb-dr-writes");
    dr_rds
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
    let created = dr_rds
        .create_db_snapshot()
        .db_instance_identifier(&instance)
        .db_snapshot_identifier(&snapshot)
        .send()
        .await
        .unwrap();
    let arn = created
        .db_snapshot()
        .unwrap()
        .db_snapshot_arn()
        .unwrap()
        .to_owned();
    dr_rds
        .modify_db_snapshot_attribute()
        .db_snapshot_identifier(&snapshot)
        .attribute_name("restore")
        .values_to_add(topology.primary.account_id.as_str())
        .send()
        .await
        .unwrap();

    // Across accounts and Regions at once: refused.
    let one_step = primary_home
        .copy_db_snapshot()
        .source_db_snapshot_identifier(&arn)
        .target_db_snapshot_identifier(unique("carried"))
        .send()
        .await
        .expect_err("a shared snapshot is not copied across accounts and Regions at once");
    assert_eq!(
        one_step.code(),
        Some("InvalidParameterCombination"),
        "{one_step:?}"
    );
    // In its own Region: copied, then across Regions within the account.
    let regional = primary_in_dr
        .copy_db_snapshot()
        .source_db_snapshot_identifier(&arn)
        .target_db_snapshot_identifier(&snapshot)
        .send()
        .await
        .unwrap();
    let regional_arn = regional.db_snapshot().unwrap().db_snapshot_arn().unwrap();
    primary_home
        .copy_db_snapshot()
        .source_db_snapshot_identifier(regional_arn)
        .target_db_snapshot_identifier(&snapshot)
        .send()
        .await
        .unwrap();
}
