//! The stand-in network restores land in: provisioning makes it in each account that
//! restores in the DR region (DR's, and primary's for replicated backups), and a second
//! provisioning finds every piece of it instead of making it again.

use dr_core::Side;
use dr_sandbox::{Outcome, Provisioned};

use crate::helpers::{shared_session, unique};

/// The network's entries of a provisioning report, for `side`.
fn network_of(report: &[Provisioned], side: Side) -> Vec<Provisioned> {
    report
        .iter()
        .filter(|p| p.side == side)
        .filter(|p| ["vpc", "subnet", "subnet grp", "sec group"].contains(&p.kind))
        .cloned()
        .collect()
}

/// The resource id an entry names (`vpc-… (iot-dr-app, …)` → `vpc-…`).
fn id_of(entry: &Provisioned) -> &str {
    entry.id.split(' ').next().unwrap_or_default()
}

#[tokio::test]
async fn the_restore_network_is_made_in_each_restoring_account_and_found_the_second_time() {
    // Given a database of its own, restored in DR and from replicated backups
    let (session, mut topology) = shared_session().await;
    let database = unique("netdb");
    let (dr_group, primary_group) = (unique("net-dr"), unique("net-pitr"));
    let db = &mut topology.snapshots.databases[0];
    db.identifier = database.parse().unwrap();
    db.subnet_group = Some(dr_group.parse().unwrap());
    db.backup_replication.as_mut().unwrap().subnet_group = primary_group.parse().unwrap();

    // When the world is provisioned twice
    let first = dr_sandbox::provision(&topology).await.unwrap();
    let second = dr_sandbox::provision(&topology).await.unwrap();

    for (side, group) in [(Side::Dr, &dr_group), (Side::Primary, &primary_group)] {
        let (made, found) = (network_of(&first, side), network_of(&second, side));
        let kinds: Vec<&str> = made.iter().map(|p| p.kind).collect();
        assert_eq!(
            kinds,
            ["vpc", "subnet", "subnet", "subnet grp", "sec group"],
            "{side}: {made:#?}"
        );
        // Then the database's own pieces were made by the first…
        let outcome_of = |kind: &str| made.iter().find(|p| p.kind == kind).unwrap().outcome;
        assert_eq!(outcome_of("subnet grp"), Outcome::Created, "{made:#?}");
        assert_eq!(outcome_of("sec group"), Outcome::Created, "{made:#?}");
        assert_eq!(made[3].id, *group);
        assert!(
            made[4].id.ends_with(&format!("(iot-dr-{database}-db)")),
            "{made:#?}"
        );
        // …and the second found all of it, the same ids (the subnet group too: RDS answers
        // DBSubnetGroupAlreadyExists, as the launcher makes moto do, and provisioning takes
        // that as found).
        assert!(
            found.iter().all(|p| p.outcome == Outcome::Existed),
            "{side}: {found:#?}"
        );
        assert_eq!(
            made.iter().map(id_of).collect::<Vec<_>>(),
            found.iter().map(id_of).collect::<Vec<_>>()
        );
        assert!(
            made[0].id.contains("(iot-dr-app, 10.42.0.0/16, us-west-2)"),
            "{made:#?}"
        );
        assert!(made[1].id.ends_with("(us-west-2a, 10.42.1.0/24)"));
        assert!(made[2].id.ends_with("(us-west-2b, 10.42.2.0/24)"));

        // And RDS in that account sees the group in that VPC, on those two subnets: the
        // network is in the account that restores, not only in the report.
        let rds = session.rds_in(side, &topology.dr.region);
        let described = rds
            .describe_db_subnet_groups()
            .db_subnet_group_name(group.as_str())
            .send()
            .await
            .unwrap();
        let described = &described.db_subnet_groups()[0];
        assert_eq!(described.vpc_id(), Some(id_of(&made[0])));
        let mut subnets: Vec<&str> = described
            .subnets()
            .iter()
            .filter_map(|s| s.subnet_identifier())
            .collect();
        subnets.sort_unstable();
        let mut reported = vec![id_of(&made[1]), id_of(&made[2])];
        reported.sort_unstable();
        assert_eq!(subnets, reported);
    }
    // Two accounts, two networks.
    assert_ne!(
        id_of(&network_of(&first, Side::Dr)[0]),
        id_of(&network_of(&first, Side::Primary)[0])
    );
    // The test's lookup finds the security group the report named.
    let security_group = dr_sandbox::provision::network::security_group_id(&session, &database)
        .await
        .unwrap();
    assert_eq!(
        security_group.as_deref(),
        Some(id_of(&network_of(&first, Side::Dr)[4]))
    );
}
