//! Where and from what a failover would restore each protected database in DR.

use dr_core::snapshots::{observe_all_sources, RestoreSource};
use dr_core::{Side, Topology};

use super::{check, unreadable, Check, Verdict};
use crate::backups::RdsReplicatedBackups;
use crate::rds::RdsSnapshotStore;
use crate::AwsSession;

/// What a failover would restore each database from now, and how old its data would be:
/// DR's snapshot copy, RDS's replicated backups or the Aurora global database's secondary
/// (the newest); a configured replication that is not replicating, or its restore network
/// missing, is named; a configured secondary shows its replication lag, and one that is
/// missing, detached or already promoted fails the check.
pub(super) async fn restore_sources(session: &AwsSession, topology: &Topology) -> Vec<Check> {
    let replicated = RdsReplicatedBackups::new(session, topology);
    let now = dr_core::time::now_millis();
    let mut checks = Vec::new();
    for (kind, policy) in topology.snapshot_policies() {
        let name = format!("restore source of {}", policy.database);
        let copies = RdsSnapshotStore::new(session, topology, kind);
        let store = policy.backup_replication.as_ref().map(|_| &replicated);
        let global = policy.global_secondary.as_ref().map(|_| &replicated);
        let report = observe_all_sources(&copies, store, global, &policy, None, now).await;
        let mut detail = match report.chosen() {
            Some(source) => format!(
                "a failover now restores from {} (data age {} s)",
                source.describe(),
                source.rpo_ms(now) / 1000
            ),
            None => "NOTHING restorable in DR: no snapshot copy, no replicated backups".to_owned(),
        };
        let mut verdict = if report.chosen().is_some() {
            Verdict::Ok
        } else {
            Verdict::Fail
        };
        for unreadable in report.unreadable() {
            detail.push_str(&format!("; could not read {unreadable}"));
            verdict = verdict.max_with(Verdict::Warn);
        }
        if let Some(secondary) = &policy.global_secondary {
            match &report.global {
                Some(Ok(Some(RestoreSource::GlobalSecondary {
                    global_cluster,
                    lag_ms,
                    data_ms,
                    ..
                }))) => detail.push_str(&format!(
                    "; global database {global_cluster}'s secondary {} in {}: replication lag {lag_ms} ms (data age {} s)",
                    secondary.cluster,
                    topology.dr.region,
                    (now - data_ms).max(0) / 1000
                )),
                // Missing, detached or promoted: a failover cannot promote it.
                Some(Err(e)) if !e.retryable => verdict = Verdict::Fail,
                _ => {}
            }
        }
        if let Some(replication) = &policy.backup_replication {
            match &report.replicated {
                Some(Ok(Some(source))) => detail.push_str(&format!(
                    "; replicated backups: data age {} s",
                    source.rpo_ms(now) / 1000
                )),
                Some(Ok(None)) => {
                    detail.push_str(&format!(
                        "; backup_replication is configured but RDS replicates nothing restorable of {} into {} yet (the snapshot controller starts it; check its errors)",
                        policy.database, topology.dr.region
                    ));
                    verdict = verdict.max_with(Verdict::Warn);
                }
                _ => {}
            }
            let group = replication
                .restore
                .subnet_group
                .as_deref()
                .unwrap_or_default();
            match session
                .rds_in(Side::Primary, &topology.dr.region)
                .describe_db_subnet_groups()
                .db_subnet_group_name(group)
                .send()
                .await
            {
                Ok(_) => detail.push_str(&format!(
                    "; their restores land in subnet group {group} (primary's account, {})",
                    topology.dr.region
                )),
                Err(e) if crate::error::code(&e) == Some("DBSubnetGroupNotFoundFault") => {
                    detail.push_str(&format!(
                        "; subnet group {group} is MISSING in primary's account in {}: a restore from replicated backups would fail",
                        topology.dr.region
                    ));
                    verdict = Verdict::Fail;
                }
                Err(e) => {
                    detail.push_str(&format!(
                        "; could not check subnet group {group}: {}",
                        crate::error::port_error("DescribeDBSubnetGroups", e)
                    ));
                    verdict = verdict.max_with(Verdict::Warn);
                }
            }
        }
        checks.push(check(&name, verdict, detail));
    }
    checks
}

/// Where each protected database would be restored in DR: its subnet group (the
/// application's VPC), parameter and option groups must exist there; without a subnet group
/// RDS would use the default VPC, or fail where there is none.
pub(super) async fn restore_networks(session: &AwsSession, topology: &Topology) -> Vec<Check> {
    let rds = session.rds_in(Side::Dr, &topology.dr.region);
    let mut checks = Vec::new();
    for db in &topology.snapshots.databases {
        let name = format!("restore network of {}", db.identifier);
        let Some(group) = &db.subnet_group else {
            checks.push(check(&name, Verdict::Fail, format!(
                "no subnet_group for {} in [[snapshots.databases]]: a failover restore would land in DR's default VPC (or fail where there is none), not the application's network",
                db.identifier
            )));
            continue;
        };
        let mut missing = Vec::new();
        let mut found = match rds
            .describe_db_subnet_groups()
            .db_subnet_group_name(group.as_str())
            .send()
            .await
        {
            Ok(answer) => answer
                .db_subnet_groups()
                .first()
                .map(|g| format!("subnet group {group} in {}", g.vpc_id().unwrap_or("?"))),
            Err(e) if crate::error::code(&e) == Some("DBSubnetGroupNotFoundFault") => None,
            Err(e) => {
                checks.push(unreadable(
                    &name,
                    Side::Dr,
                    topology,
                    &crate::error::port_error("DescribeDBSubnetGroups", e),
                ));
                continue;
            }
        };
        if found.is_none() {
            missing.push(format!("subnet group {group}"));
        }
        if let Some(pg) = &db.parameter_group {
            match rds
                .describe_db_parameter_groups()
                .db_parameter_group_name(pg.as_str())
                .send()
                .await
            {
                Ok(_) => {}
                Err(e) if crate::error::code(&e) == Some("DBParameterGroupNotFound") => {
                    missing.push(format!("parameter group {pg}"))
                }
                Err(e) => missing.push(format!(
                    "parameter group {pg} ({})",
                    crate::error::port_error("DescribeDBParameterGroups", e)
                )),
            }
        }
        if let Some(og) = &db.option_group {
            match rds
                .describe_option_groups()
                .option_group_name(og.as_str())
                .send()
                .await
            {
                Ok(_) => {}
                Err(e) if crate::error::code(&e) == Some("OptionGroupNotFoundFault") => {
                    missing.push(format!("option group {og}"))
                }
                Err(e) => missing.push(format!(
                    "option group {og} ({})",
                    crate::error::port_error("DescribeOptionGroups", e)
                )),
            }
        }
        if !missing.is_empty() {
            checks.push(check(&name, Verdict::Fail, format!("missing in DR: {}; create them (the application's network) or fix [[snapshots.databases]]", missing.join(", "))));
            continue;
        }
        let detail = found.take().unwrap_or_default();
        checks.push(if db.security_group_ids.is_empty() {
            check(&name, Verdict::Warn, format!("{detail}; no security_group_ids: the VPC's default group applies (never publicly accessible either way)"))
        } else {
            check(&name, Verdict::Ok, format!("{detail}, security groups {}, never publicly accessible", db.security_group_ids.join(" ")))
        });
    }
    checks
}

/// Where the application in DR will find its restored databases: the parameter path takes
/// writes (a `readiness` parameter is put and read back there), and each configured
/// credentials secret answers in DR.
pub(super) async fn database_parameter(session: &AwsSession, topology: &Topology) -> Check {
    const NAME: &str = "database parameter";
    let directory = crate::failover::SsmDatabaseDirectory::new(session, topology);
    let written = match directory.probe_writable(dr_core::time::now_millis()).await {
        Ok(name) => name,
        Err(error) => return unreadable(NAME, Side::Dr, topology, &error),
    };
    let secrets = session.secrets_manager(Side::Dr);
    let mut found = Vec::new();
    let mut problems = Vec::new();
    for db in &topology.snapshots.databases {
        let Some(arn) = &db.credentials_secret_arn else {
            continue;
        };
        match secrets.describe_secret().secret_id(arn).send().await {
            Ok(described) if described.deleted_date().is_some() => problems.push(format!(
                "{}'s credentials secret {arn} is scheduled for deletion in DR",
                db.identifier
            )),
            Ok(_) => found.push(db.identifier.to_string()),
            Err(e) => problems.push(format!(
                "{}'s credentials secret unreachable in DR: {}",
                db.identifier,
                crate::error::port_error("DescribeSecret", e)
            )),
        }
    }
    if !problems.is_empty() {
        return check(
            NAME,
            Verdict::Fail,
            format!(
                "{}; the application in DR could find its database but not log in",
                problems.join("; ")
            ),
        );
    }
    let unnamed = topology.snapshots.databases.len() - found.len();
    let secrets = match (found.is_empty(), unnamed) {
        (true, _) => {
            "no credentials secret configured: the README says how the application gets them"
                .to_owned()
        }
        (false, 0) => format!("credentials secrets reachable for {}", found.join(", ")),
        (false, n) => format!(
            "credentials secrets reachable for {} ({n} without one)",
            found.join(", ")
        ),
    };
    check(
        NAME,
        Verdict::Ok,
        format!("{written} writable in {}; {secrets}", topology.dr.region),
    )
}
