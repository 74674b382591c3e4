//! The device setup DR must hold: thing groups, role aliases and provisioning templates.

use dr_core::replication::{
    CertificateRegistry, ProvisioningTemplateRegistry, RoleAliasRegistry, ThingGroupRegistry,
};
use dr_core::{Side, Topology};

use super::{check, unreadable, Check, Verdict};
use crate::iot::IotRegistry;
use crate::AwsSession;

/// Groups compared one by one, at most: each costs four calls, and readiness must stay quick.
const GROUPS_COMPARED: usize = 200;

/// Every thing group of primary in DR, under the same parent, with the same policies
/// attached (the first [`GROUPS_COMPARED`] in full; the rest by name).
pub(super) async fn thing_groups(session: &AwsSession, topology: &Topology) -> Check {
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
        (Err(e), _) => return unreadable(NAME, Side::Primary, topology, &e),
        (_, Err(e)) => return unreadable(NAME, Side::Dr, topology, &e),
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
            (Err(e), ..) | (_, _, Err(e), _) => {
                return unreadable(NAME, Side::Primary, topology, &e)
            }
            (_, Err(e), ..) | (.., Err(e)) => return unreadable(NAME, Side::Dr, topology, &e),
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
pub(super) async fn role_aliases(session: &AwsSession, topology: &Topology) -> Check {
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
        Err(e) => {
            let error = crate::error::port_error("ListRoleAliases", e);
            return unreadable(NAME, Side::Primary, topology, &error);
        }
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
                match role_in_dr(
                    session,
                    topology,
                    &d.role_arn,
                    CREDENTIALS_PRINCIPAL,
                    Some(d.credential_duration_seconds),
                )
                .await
                {
                    Ok(None) => {}
                    Ok(Some(problem)) => problems.push(format!("{alias}: {problem}")),
                    Err(e) => return unreadable(NAME, Side::Dr, topology, &e),
                }
            }
            (Ok(Some(_)), Ok(None)) => problems.push(format!("{alias} missing")),
            (Ok(None), _) => {}
            (Err(e), _) => return unreadable(NAME, Side::Primary, topology, &e),
            (_, Err(e)) => return unreadable(NAME, Side::Dr, topology, &e),
        }
    }
    if problems.is_empty() {
        check(
            NAME,
            Verdict::Ok,
            format!(
                "{} role alias(es) in DR naming DR's roles, each trusting {CREDENTIALS_PRINCIPAL} for at least the alias's duration",
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

/// The service that assumes a role alias's role for a device (the credentials provider).
const CREDENTIALS_PRINCIPAL: &str = "credentials.iot.amazonaws.com";

/// The service that assumes a provisioning template's role to register devices.
const PROVISIONING_PRINCIPAL: &str = "iot.amazonaws.com";

/// What is wrong with a role that DR's IoT assumes (a role alias's, a provisioning
/// template's), if anything: it must exist in DR's IAM, trust `principal` (AWS: an alias's
/// role "must have a trust relationship with credentials.iot.amazonaws.com"; a template's,
/// with iot.amazonaws.com) and, for an alias, allow sessions at least as long as its
/// `credentialDurationSeconds`. A GetRole with no answer (IAM's control plane is in
/// us-east-1) says so rather than failing DR.
async fn role_in_dr(
    session: &AwsSession,
    topology: &Topology,
    role_arn: &str,
    principal: &str,
    session_seconds: Option<u32>,
) -> Result<Option<String>, dr_core::port::PortError> {
    let name = role_arn.rsplit('/').next().unwrap_or_default();
    let got = match session
        .iam(Side::Dr)
        .get_role()
        .role_name(name)
        .send()
        .await
    {
        Ok(got) => got,
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_no_such_entity_exception()) =>
        {
            return Ok(Some(format!(
                "role {name} missing in DR's IAM: devices' credentials requests would fail"
            )));
        }
        Err(e) => {
            let error = crate::error::port_error("GetRole", e);
            if error.no_answer.is_some() {
                return Ok(Some(format!(
                    "role {name} not verified: IAM did not answer"
                )));
            }
            return Err(error);
        }
    };
    let Some(role) = got.role() else {
        return Ok(Some(format!("role {name}: GetRole answered no role")));
    };
    let account = topology.dr.account_id.as_str();
    let trust = role.assume_role_policy_document().unwrap_or_default();
    if !dr_core::topic_rules::trusts_service(trust, principal, account) {
        return Ok(Some(format!(
            "role {name} does not let {principal} assume it"
        )));
    }
    let Some(duration_seconds) = session_seconds else {
        return Ok(None);
    };
    // IAM's default maximum session is an hour.
    let max_session = role.max_session_duration().unwrap_or(3_600);
    if i64::from(max_session) < i64::from(duration_seconds) {
        return Ok(Some(format!(
            "role {name} allows {max_session} s sessions, the alias asks {duration_seconds} s"
        )));
    }
    Ok(None)
}

/// Every provisioning template of primary in DR, provisioning as primary's would with DR's
/// ARNs (role, hook, the body's policy documents), and the policies it attaches by name
/// there: without them no new device enrols during an outage.
pub(super) async fn provisioning_templates(session: &AwsSession, topology: &Topology) -> Check {
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
            let error = crate::error::port_error("ListProvisioningTemplates", e);
            return unreadable(NAME, Side::Primary, topology, &error);
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
            (Err(e), _) => return unreadable(NAME, Side::Primary, topology, &e),
            (_, Err(e)) => return unreadable(NAME, Side::Dr, topology, &e),
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
                Err(e) => return unreadable(NAME, Side::Dr, topology, &e),
            }
        }
        match role_in_dr(
            session,
            topology,
            &d.provisioning_role_arn,
            PROVISIONING_PRINCIPAL,
            None,
        )
        .await
        {
            Ok(None) => {}
            Ok(Some(problem)) => problems.push(format!("{name}: {problem}")),
            Err(e) => return unreadable(NAME, Side::Dr, topology, &e),
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
                "{} template(s) in DR with DR's roles (each trusting {PROVISIONING_PRINCIPAL}) and ARNs{hooks}",
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
