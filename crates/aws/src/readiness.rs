//! Is DR ready to take over? Checks of what failover depends on, each with a verdict and
//! what to do: replication resources in place and encrypted, the fleet's CAs registered in
//! DR, policies equal modulo ARNs, the custom domain configured in both regions, the
//! failover switch's alarm, whether the reconciler can cover the fleet at its rate, where
//! each database would be restored and from which source.

use aws_sdk_iot::types::CaCertificateStatus;
use dr_core::reconcile::{count_by_status, PolicyDigest};
use dr_core::replication::{
    CertificateRegistry, ProvisioningTemplateRegistry, RoleAliasRegistry, ThingGroupRegistry,
};
use dr_core::{FlipMode, Side, Topology};

use dr_core::snapshots::observe_sources;

use crate::backups::RdsReplicatedBackups;
use crate::failover::{operator_topic_arn, serving_alarm_name};
use crate::iot::IotRegistry;
use crate::rds::RdsSnapshotStore;
use crate::{names, AwsSession};

/// A check's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Ready.
    Ok,
    /// Works, but look at it.
    Warn,
    /// Failover would not work as designed.
    Fail,
}

/// One check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// What was checked.
    pub name: String,
    /// The verdict.
    pub verdict: Verdict,
    /// What was found, and what to do when it is not OK.
    pub detail: String,
}

fn check(name: &str, verdict: Verdict, detail: impl Into<String>) -> Check {
    Check {
        name: name.to_owned(),
        verdict,
        detail: detail.into(),
    }
}

fn error_check(name: &str, error: impl std::fmt::Display) -> Check {
    check(name, Verdict::Fail, format!("could not check: {error}"))
}

/// Run every check, all at once: with a side unreachable, each of its checks fails after
/// one operation timeout, together rather than one after another.
pub async fn check_all(session: &AwsSession, topology: &Topology) -> Vec<Check> {
    let (
        replication,
        cas,
        policies,
        device_setup,
        primary_domain,
        dr_domain,
        alarm,
        coverage,
        network,
    ) = tokio::join!(
        replication_resources(session, topology),
        certificate_authorities(session, topology),
        policies(session, topology),
        async {
            let (groups, aliases, templates) = tokio::join!(
                thing_groups(session, topology),
                role_aliases(session, topology),
                provisioning_templates(session, topology)
            );
            [groups, aliases, templates]
        },
        domain_configuration(session, topology, Side::Primary),
        domain_configuration(session, topology, Side::Dr),
        async {
            if topology.failover.flip == FlipMode::DataPlane {
                Some(serving_alarm(session, topology).await)
            } else {
                None
            }
        },
        reconcile_coverage(session, topology),
        async {
            let (networks, sources) = tokio::join!(
                restore_networks(session, topology),
                restore_sources(session, topology)
            );
            networks.into_iter().chain(sources).collect::<Vec<_>>()
        },
    );
    let mut checks = replication;
    checks.extend([cas, policies]);
    checks.extend(device_setup);
    checks.extend([primary_domain, dr_domain]);
    checks.extend(alarm);
    checks.push(coverage);
    checks.extend(network);
    checks
}

/// What a failover would restore each database from now, and how old its data would be:
/// DR's snapshot copy or RDS's replicated backups (the newer); a configured replication
/// that is not replicating, or its restore network missing, is named.
async fn restore_sources(session: &AwsSession, topology: &Topology) -> Vec<Check> {
    let replicated = RdsReplicatedBackups::new(session, topology);
    let now = dr_core::time::now_millis();
    let mut checks = Vec::new();
    for (kind, policy) in topology.snapshot_policies() {
        let name = format!("restore source of {}", policy.database);
        let copies = RdsSnapshotStore::new(session, topology, kind);
        let store = policy.backup_replication.as_ref().map(|_| &replicated);
        let report = observe_sources(&copies, store, &policy, now).await;
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

impl Verdict {
    /// The worse of the two.
    fn max_with(self, other: Verdict) -> Verdict {
        let rank = |v: Verdict| match v {
            Verdict::Ok => 0,
            Verdict::Warn => 1,
            Verdict::Fail => 2,
        };
        if rank(other) > rank(self) {
            other
        } else {
            self
        }
    }
}

/// Where each protected database would be restored in DR: its subnet group (the
/// application's VPC), parameter and option groups must exist there; without a subnet group
/// RDS would use the default VPC, or fail where there is none.
async fn restore_networks(session: &AwsSession, topology: &Topology) -> Vec<Check> {
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
                checks.push(error_check(
                    &name,
                    crate::error::port_error("DescribeDBSubnetGroups", e),
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

async fn replication_resources(session: &AwsSession, topology: &Topology) -> Vec<Check> {
    let sns = session.sns(Side::Dr);
    let mut checks = Vec::new();
    for (name, arn) in [
        ("replication topic", names::replication_topic_arn(topology)),
        ("operator topic", operator_topic_arn(topology)),
    ] {
        checks.push(
            match sns.get_topic_attributes().topic_arn(&arn).send().await {
                Ok(output) => {
                    let encrypted = output
                        .attributes()
                        .and_then(|a| a.get("KmsMasterKeyId"))
                        .is_some_and(|k| !k.is_empty());
                    if encrypted {
                        check(name, Verdict::Ok, format!("{arn}, KMS-encrypted"))
                    } else {
                        check(
                            name,
                            Verdict::Fail,
                            format!("{arn} is not encrypted at rest: set KmsMasterKeyId"),
                        )
                    }
                }
                Err(e) => check(
                    name,
                    Verdict::Fail,
                    format!(
                        "{arn} missing: {}",
                        crate::error::port_error("GetTopicAttributes", e)
                    ),
                ),
            },
        );
    }
    let sqs = session.sqs(Side::Dr);
    for (name, queue) in [
        ("replication queue", names::replication_queue_name(topology)),
        ("replication DLQ", names::dead_letter_queue_name(topology)),
    ] {
        checks.push(match sqs.get_queue_url().queue_name(&queue).send().await {
            Ok(_) => check(name, Verdict::Ok, queue),
            Err(e) => check(
                name,
                Verdict::Fail,
                format!(
                    "{queue} missing ({}): poison messages would be retried forever or lost; deploy the DR stack",
                    crate::error::port_error("GetQueueUrl", e)
                ),
            ),
        });
    }
    let dynamodb = session.dynamodb(Side::Dr);
    for (name, table) in [
        ("ledger table", topology.replication.ledger_table.as_str()),
        (
            "failover state table",
            topology.failover.state_table.as_str(),
        ),
    ] {
        checks.push(
            match dynamodb.describe_table().table_name(table).send().await {
                Ok(_) => check(name, Verdict::Ok, table),
                Err(e) => check(
                    name,
                    Verdict::Fail,
                    format!(
                        "{table} missing: {}",
                        crate::error::port_error("DescribeTable", e)
                    ),
                ),
            },
        );
    }
    checks
}

async fn certificate_authorities(session: &AwsSession, topology: &Topology) -> Check {
    const NAME: &str = "CAs in DR";
    let (primary, dr) = (session.iot(Side::Primary), session.iot(Side::Dr));
    let listed = match primary.list_ca_certificates().send().await {
        Ok(listed) => listed,
        Err(e) => return error_check(NAME, crate::error::port_error("ListCACertificates", e)),
    };
    let mut problems = Vec::new();
    for ca in listed.certificates() {
        let id = ca.certificate_id().unwrap_or_default();
        match dr.describe_ca_certificate().certificate_id(id).send().await {
            Ok(found) => {
                let description = found.certificate_description();
                let in_dr = description.and_then(|d| d.status()).cloned();
                if ca.status() == Some(&CaCertificateStatus::Active)
                    && in_dr != Some(CaCertificateStatus::Active)
                {
                    problems.push(format!(
                        "{id} is {in_dr:?} in DR but ACTIVE in primary: JITR would fail in DR"
                    ));
                }
                let mode = |d: Option<&aws_sdk_iot::types::CaCertificateDescription>| {
                    d.and_then(|d| d.certificate_mode()).cloned()
                };
                let primary_mode = primary
                    .describe_ca_certificate()
                    .certificate_id(id)
                    .send()
                    .await
                    .ok()
                    .and_then(|p| mode(p.certificate_description()));
                if primary_mode.is_some() && mode(description) != primary_mode {
                    problems.push(format!(
                        "{id} is registered in mode {:?} in DR, {primary_mode:?} in primary",
                        mode(description)
                    ));
                }
            }
            Err(_) => problems.push(format!(
                "{id} is not registered in DR: devices it signs cannot register there"
            )),
        }
    }
    let _ = topology;
    if problems.is_empty() {
        check(
            NAME,
            Verdict::Ok,
            format!(
                "{} CA(s) registered in DR as in primary",
                listed.certificates().len()
            ),
        )
    } else {
        check(NAME, Verdict::Fail, problems.join("; "))
    }
}

async fn policies(session: &AwsSession, topology: &Topology) -> Check {
    const NAME: &str = "policies equal modulo ARNs";
    let primary = IotRegistry::for_side(session, topology, Side::Primary);
    let dr = IotRegistry::for_side(session, topology, Side::Dr);
    let names = match session.iot(Side::Primary).list_policies().send().await {
        Ok(listed) => listed
            .policies()
            .iter()
            .filter_map(|p| p.policy_name().and_then(|n| n.parse().ok()))
            .collect::<Vec<dr_core::PolicyName>>(),
        Err(e) => return error_check(NAME, crate::error::port_error("ListPolicies", e)),
    };
    let mut differ = Vec::new();
    for name in &names {
        let (Ok(Some(p)), dr_policy) = (primary.policy(name).await, dr.policy(name).await) else {
            continue;
        };
        let same = dr_policy.ok().flatten().is_some_and(|d| {
            PolicyDigest::of(
                &p.document,
                &topology.primary.account_id,
                &topology.primary.region,
            ) == PolicyDigest::of(&d.document, &topology.dr.account_id, &topology.dr.region)
        });
        if !same {
            differ.push(name.to_string());
        }
    }
    if differ.is_empty() {
        check(NAME, Verdict::Ok, format!("{} policies", names.len()))
    } else {
        check(
            NAME,
            Verdict::Fail,
            format!(
                "missing or different in DR: {}; run `drctl reconcile --apply`",
                differ.join(", ")
            ),
        )
    }
}

/// Groups compared one by one, at most: each costs four calls, and readiness must stay quick.
const GROUPS_COMPARED: usize = 200;

/// Every thing group of primary in DR, under the same parent, with the same policies
/// attached (the first [`GROUPS_COMPARED`] in full; the rest by name).
async fn thing_groups(session: &AwsSession, topology: &Topology) -> Check {
    const NAME: &str = "thing groups in DR";
    let names = |side: Side| async move {
        session
            .iot(side)
            .list_thing_groups()
            // Children too: without it AWS may list root groups only.
            .recursive(true)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map(|groups| {
                groups
                    .iter()
                    .filter_map(|g| g.group_name().and_then(|n| n.parse().ok()))
                    .collect::<std::collections::BTreeSet<dr_core::ThingGroupName>>()
            })
            .map_err(|e| crate::error::port_error("ListThingGroups", e))
    };
    let (in_primary, in_dr) = match tokio::join!(names(Side::Primary), names(Side::Dr)) {
        (Ok(p), Ok(d)) => (p, d),
        (Err(e), _) | (_, Err(e)) => return error_check(NAME, e),
    };
    let mut problems: Vec<String> = in_primary
        .difference(&in_dr)
        .map(|g| format!("{g} missing"))
        .collect();
    let primary = IotRegistry::for_side(session, topology, Side::Primary);
    let dr = IotRegistry::for_side(session, topology, Side::Dr);
    for group in in_primary.intersection(&in_dr).take(GROUPS_COMPARED) {
        let (p, d) = tokio::join!(primary.thing_group(group), dr.thing_group(group));
        let (pp, dp) = tokio::join!(
            primary.thing_group_policy_names(group),
            dr.thing_group_policy_names(group)
        );
        match (p, d, pp, dp) {
            (Ok(Some(p)), Ok(Some(d)), Ok(pp), Ok(dp)) => {
                if p.ancestors != d.ancestors {
                    problems.push(format!(
                        "{group} sits under {:?} in DR, {:?} in primary",
                        d.parent(),
                        p.parent()
                    ));
                }
                if p.query.is_some() != d.query.is_some() {
                    problems.push(format!("{group} is dynamic on one side only"));
                }
                if pp != dp {
                    problems.push(format!(
                        "{group} has policies {dp:?} in DR, {pp:?} in primary"
                    ));
                }
            }
            (Err(e), ..) | (_, Err(e), ..) | (.., Err(e), _) | (.., Err(e)) => {
                return error_check(NAME, e)
            }
            _ => {}
        }
    }
    let compared = in_primary.intersection(&in_dr).count().min(GROUPS_COMPARED);
    if problems.is_empty() {
        check(
            NAME,
            Verdict::Ok,
            format!(
                "{} group(s) in DR as in primary ({compared} compared in full: parent, kind, policies)",
                in_primary.len()
            ),
        )
    } else {
        let shown: Vec<_> = problems.iter().take(10).cloned().collect();
        check(
            NAME,
            Verdict::Fail,
            format!(
                "{} problem(s): {}{}; devices whose permissions come from these groups are refused in DR — see the DLQ (`drctl dlq list`), and re-send a group by touching it in primary (UpdateThingGroup)",
                problems.len(),
                shown.join("; "),
                if problems.len() > shown.len() { "; …" } else { "" }
            ),
        )
    }
}

/// Every role alias of primary in DR, naming DR's role of the same name, lasting as long.
async fn role_aliases(session: &AwsSession, topology: &Topology) -> Check {
    const NAME: &str = "role aliases in DR";
    let listed = session
        .iot(Side::Primary)
        .list_role_aliases()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await;
    let aliases: Vec<dr_core::RoleAliasName> = match listed {
        Ok(aliases) => aliases.iter().filter_map(|a| a.parse().ok()).collect(),
        Err(e) => return error_check(NAME, crate::error::port_error("ListRoleAliases", e)),
    };
    let rewrite = dr_core::replication::ArnRewrite::primary_to_dr(topology);
    let primary = IotRegistry::for_side(session, topology, Side::Primary);
    let dr = IotRegistry::for_side(session, topology, Side::Dr);
    let mut problems = Vec::new();
    for alias in &aliases {
        match tokio::join!(primary.role_alias(alias), dr.role_alias(alias)) {
            (Ok(Some(p)), Ok(Some(d))) => {
                let wanted = rewrite.rewrite_arn(&p.role_arn);
                if d.role_arn != wanted {
                    problems.push(format!(
                        "{alias} names {} in DR, expected {wanted}",
                        d.role_arn
                    ));
                }
                if d.credential_duration_seconds != p.credential_duration_seconds {
                    problems.push(format!(
                        "{alias} lasts {} s in DR, {} s in primary",
                        d.credential_duration_seconds, p.credential_duration_seconds
                    ));
                }
            }
            (Ok(Some(_)), Ok(None)) => problems.push(format!("{alias} missing")),
            (Ok(None), _) => {}
            (Err(e), _) | (_, Err(e)) => return error_check(NAME, e),
        }
    }
    if problems.is_empty() {
        check(
            NAME,
            Verdict::Ok,
            format!(
                "{} role alias(es) in DR naming DR's roles (that those roles exist in DR's IAM is not checked here)",
                aliases.len()
            ),
        )
    } else {
        check(
            NAME,
            Verdict::Fail,
            format!(
                "{}; devices fetching credentials through them fail in DR — re-send one by updating it in primary (UpdateRoleAlias)",
                problems.join("; ")
            ),
        )
    }
}

/// Every provisioning template of primary in DR, provisioning as primary's would with DR's
/// ARNs (role, hook, the body's policy documents), and the policies it attaches by name
/// there: without them no new device enrols during an outage.
async fn provisioning_templates(session: &AwsSession, topology: &Topology) -> Check {
    const NAME: &str = "provisioning templates in DR";
    let listed = session
        .iot(Side::Primary)
        .list_provisioning_templates()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await;
    let templates: Vec<dr_core::TemplateName> = match listed {
        Ok(templates) => templates
            .iter()
            .filter_map(|t| t.template_name()?.parse().ok())
            .collect(),
        Err(e) => {
            return error_check(
                NAME,
                crate::error::port_error("ListProvisioningTemplates", e),
            )
        }
    };
    let rewrite = dr_core::replication::ArnRewrite::primary_to_dr(topology);
    let primary = IotRegistry::for_side(session, topology, Side::Primary);
    let dr = IotRegistry::for_side(session, topology, Side::Dr);
    let (mut problems, mut hooks) = (Vec::new(), Vec::new());
    for name in &templates {
        let (p, d) = match tokio::join!(
            primary.provisioning_template(name),
            dr.provisioning_template(name)
        ) {
            (Ok(Some(p)), Ok(Some(d))) => (p, d),
            (Ok(Some(_)), Ok(None)) => {
                problems.push(format!("{name} missing"));
                continue;
            }
            (Ok(None), _) => continue,
            (Err(e), _) | (_, Err(e)) => return error_check(NAME, e),
        };
        if d.names_the_source(&rewrite) {
            problems.push(format!(
                "{name} still names primary's account and region in DR (an ARN built with Fn::Join?)"
            ));
        }
        match p.in_dr(&rewrite) {
            Ok(wanted) if wanted.provisions_as(&d) => {}
            Ok(_) => problems.push(format!("{name} differs from primary's")),
            Err(e) => problems.push(e),
        }
        for policy in p.named_policies() {
            match dr.policy(&policy).await {
                Ok(Some(_)) => {}
                Ok(None) => problems.push(format!("{name} attaches policy {policy}, missing")),
                Err(e) => return error_check(NAME, e),
            }
        }
        if let Some(hook) = d.pre_provisioning_hook {
            hooks.push(hook.target_arn);
        }
    }
    if problems.is_empty() {
        let hooks = if hooks.is_empty() {
            String::new()
        } else {
            format!(
                "; their hooks call {} (deploying those functions in DR is not checked here)",
                hooks.join(", ")
            )
        };
        check(
            NAME,
            Verdict::Ok,
            format!(
                "{} template(s) in DR with DR's roles and ARNs{hooks}",
                templates.len()
            ),
        )
    } else {
        check(
            NAME,
            Verdict::Fail,
            format!(
                "{}; devices cannot enrol in DR with them — re-send one by updating it in primary (UpdateProvisioningTemplate)",
                problems.join("; ")
            ),
        )
    }
}

async fn domain_configuration(session: &AwsSession, topology: &Topology, side: Side) -> Check {
    let name = format!("domain configuration in {side}");
    let iot = session.iot(side);
    let listed = match iot.list_domain_configurations().send().await {
        Ok(listed) => listed,
        Err(e) => {
            return error_check(
                &name,
                crate::error::port_error("ListDomainConfigurations", e),
            )
        }
    };
    for summary in listed.domain_configurations() {
        let Some(config_name) = summary.domain_configuration_name() else {
            continue;
        };
        if let Ok(described) = iot
            .describe_domain_configuration()
            .domain_configuration_name(config_name)
            .send()
            .await
        {
            if described.domain_name() == Some(topology.dns.record.as_str()) {
                return check(
                    &name,
                    Verdict::Ok,
                    format!("{config_name} serves {}", topology.dns.record),
                );
            }
        }
    }
    check(
        &name,
        Verdict::Fail,
        format!("no domain configuration for {} in {side}: devices following the DNS flip would be refused", topology.dns.record),
    )
}

async fn serving_alarm(session: &AwsSession, topology: &Topology) -> Check {
    const NAME: &str = "failover alarm";
    let alarm = serving_alarm_name(topology);
    match session.cloudwatch(Side::Dr).describe_alarms().alarm_names(&alarm).send().await {
        Ok(found) if !found.metric_alarms().is_empty() => check(NAME, Verdict::Ok, alarm),
        Ok(_) => check(NAME, Verdict::Fail, format!("{alarm} missing in DR: Route 53 has nothing to follow; deploy the DR stack (infra/), or start the health checker (it creates it too)")),
        Err(e) => error_check(NAME, crate::error::port_error("DescribeAlarms", e)),
    }
}

/// The fleet against the IoT control-plane budget (`[reconcile] max_calls_per_second`, the
/// share of the account's IoT API quota the control plane may use): a status pass costs one
/// listing call per page per side (both at once), a deep pass about 3 calls per certificate
/// per side; rebuilding DR's registry from scratch (a lost or
/// new DR account) about 4 DR calls per certificate (register, thing, attach thing, attach
/// policy — measured by the replication benchmark).
async fn reconcile_coverage(session: &AwsSession, topology: &Topology) -> Check {
    const NAME: &str = "IoT quota vs fleet";
    let primary = IotRegistry::for_side(session, topology, Side::Primary);
    let fleet: u64 = match count_by_status(&primary).await {
        Ok(counts) => counts.values().sum(),
        Err(e) => return error_check(NAME, e),
    };
    let rate = topology.reconcile.max_calls_per_second;
    let hours = |calls_per_certificate: f64| fleet as f64 * calls_per_certificate / rate / 3600.0;
    // The status tier lists both sides at once: one call per page per side.
    let page = f64::from(topology.reconcile.page_size);
    let status_minutes = (fleet as f64 / page).ceil().max(1.0) / rate / 60.0;
    let every = topology.reconcile.status_pass_every_minutes;
    let (deep, rebuild) = (hours(3.0), hours(4.0));
    let detail = format!(
        "{fleet} certificates at {rate} IoT calls/s: a status pass (ids and statuses) takes about \
         {status_minutes:.1} min, every {every} min; a deep pass (things, policies) about {deep:.1} h; \
         rebuilding DR's registry about {rebuild:.1} h"
    );
    if status_minutes > f64::from(every) || status_minutes > 12.0 {
        check(NAME, Verdict::Fail, format!("{detail}: the status pass cannot finish in its interval or in one invocation (15 min with a margin); ask for a higher IoT quota and raise the rate"))
    } else if deep > 24.0 || rebuild > 24.0 {
        check(NAME, Verdict::Warn, format!("{detail}: over a day; revocations and missing certificates are still found by the status pass, but for a faster deep pass or rebuild ask for a higher IoT quota and raise the rate"))
    } else {
        check(NAME, Verdict::Ok, detail)
    }
}
