//! What devices need of DR's registry beyond their certificates: the CAs that sign them
//! and the policies that authorize them. Both sides are listed in full (AWS pages every
//! listing, 25 CAs to a page by default), so a CA or policy on a later page counts too.

use std::collections::BTreeSet;

use aws_sdk_iot::operation::describe_ca_certificate::DescribeCaCertificateOutput;
use dr_core::reconcile::PolicyDigest;
use dr_core::replication::template::rewrite_body;
use dr_core::replication::{ArnRewrite, CertificateRegistry};
use dr_core::{Side, Topology};

use super::{check, unreadable, Check, Verdict};
use crate::iot::IotRegistry;
use crate::AwsSession;

pub(super) async fn certificate_authorities(session: &AwsSession, topology: &Topology) -> Check {
    const NAME: &str = "CAs in DR";
    let ids = |side: Side| async move {
        session
            .iot(side)
            .list_ca_certificates()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map(|cas| {
                cas.iter()
                    .filter_map(|ca| ca.certificate_id().map(str::to_owned))
                    .collect::<BTreeSet<String>>()
            })
            .map_err(|e| crate::error::port_error("ListCACertificates", e))
    };
    let (in_primary, in_dr) = match tokio::join!(ids(Side::Primary), ids(Side::Dr)) {
        (Ok(p), Ok(d)) => (p, d),
        (Err(e), _) => return unreadable(NAME, Side::Primary, topology, &e),
        (_, Err(e)) => return unreadable(NAME, Side::Dr, topology, &e),
    };
    let rewrite = ArnRewrite::primary_to_dr(topology);
    let describe = |side: Side, id: String| async move {
        session
            .iot(side)
            .describe_ca_certificate()
            .certificate_id(id)
            .send()
            .await
            .map(|found| CaRegistration::of(&found))
            .map_err(|e| crate::error::port_error("DescribeCACertificate", e))
    };
    let mut problems = Vec::new();
    for id in &in_primary {
        if !in_dr.contains(id) {
            problems.push(format!(
                "{id} is not registered in DR: devices it signs cannot register there"
            ));
            continue;
        }
        match tokio::join!(
            describe(Side::Primary, id.clone()),
            describe(Side::Dr, id.clone())
        ) {
            (Ok(p), Ok(d)) => problems.extend(ca_differences(id, &p.in_dr(&rewrite), &d)),
            (Err(e), _) => return unreadable(NAME, Side::Primary, topology, &e),
            (_, Err(e)) => return unreadable(NAME, Side::Dr, topology, &e),
        }
    }
    let only_in_dr: Vec<&String> = in_dr.difference(&in_primary).collect();
    if !problems.is_empty() {
        return check(
            NAME,
            Verdict::Fail,
            format!(
                "{}; register or update the CA in DR as in primary (UpdateCACertificate), or let the replicator carry primary's change",
                problems.join("; ")
            ),
        );
    }
    let registered = format!(
        "{} CA(s) registered in DR as in primary (status, mode, auto-registration, registration config)",
        in_primary.len()
    );
    if only_in_dr.is_empty() {
        check(NAME, Verdict::Ok, registered)
    } else {
        check(
            NAME,
            Verdict::Warn,
            format!(
                "{registered}; in DR only: {} (not primary's: deleted or never registered there? devices it signs would register in DR alone)",
                only_in_dr
                    .iter()
                    .map(|id| id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    }
}

/// What a CA's registration decides in a region: whether the devices it signs are let in
/// (status), how they connect (mode), and what their first connection does
/// (auto-registration, and the JITP template and role of the registration config).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct CaRegistration {
    status: Option<String>,
    mode: Option<String>,
    auto_registration: Option<String>,
    template_body: Option<String>,
    role_arn: Option<String>,
    template_name: Option<String>,
}

impl CaRegistration {
    fn of(found: &DescribeCaCertificateOutput) -> Self {
        let description = found.certificate_description();
        let config = found.registration_config();
        let text = |value: Option<&str>| value.filter(|v| !v.is_empty()).map(str::to_owned);
        Self {
            status: description
                .and_then(|d| d.status())
                .map(|s| s.as_str().to_owned()),
            mode: description
                .and_then(|d| d.certificate_mode())
                .map(|m| m.as_str().to_owned()),
            auto_registration: description
                .and_then(|d| d.auto_registration_status())
                .map(|s| s.as_str().to_owned()),
            template_body: text(config.and_then(|c| c.template_body())),
            role_arn: text(config.and_then(|c| c.role_arn())),
            template_name: text(config.and_then(|c| c.template_name())),
        }
    }

    /// Primary's registration as DR should hold it: its role, and every ARN of its JITP
    /// template (policy documents included), in DR's account and region.
    fn in_dr(&self, rewrite: &ArnRewrite) -> Self {
        Self {
            template_body: self
                .template_body
                .as_ref()
                .map(|body| rewrite_body(body, rewrite).unwrap_or_else(|_| body.clone())),
            role_arn: self.role_arn.as_ref().map(|arn| rewrite.rewrite_arn(arn)),
            ..self.clone()
        }
    }
}

/// How DR's registration of CA `id` differs from `wanted` (primary's, in DR's terms), one
/// phrase each.
fn ca_differences(id: &str, wanted: &CaRegistration, dr: &CaRegistration) -> Vec<String> {
    let shown = |value: &Option<String>| value.clone().unwrap_or_else(|| "unset".to_owned());
    let mut differences = Vec::new();
    if dr.status != wanted.status {
        let why = if wanted.status.as_deref() == Some("ACTIVE") {
            "JITR would fail in DR"
        } else {
            "deactivated in primary (compromised? retired?), the devices it signs would still register in DR"
        };
        differences.push(format!(
            "{id} is {} in DR but {} in primary: {why}",
            shown(&dr.status),
            shown(&wanted.status)
        ));
    }
    // Older registrations report no mode; compare only what primary says.
    if wanted.mode.is_some() && dr.mode != wanted.mode {
        differences.push(format!(
            "{id} is registered in mode {} in DR, {} in primary",
            shown(&dr.mode),
            shown(&wanted.mode)
        ));
    }
    // AWS reports DISABLE for a CA registered without it.
    let auto = |value: &Option<String>| value.clone().unwrap_or_else(|| "DISABLE".to_owned());
    if auto(&dr.auto_registration) != auto(&wanted.auto_registration) {
        differences.push(format!(
            "{id} has auto-registration {} in DR, {} in primary: a device's first connection in DR would {}",
            auto(&dr.auto_registration),
            auto(&wanted.auto_registration),
            if auto(&wanted.auto_registration) == "ENABLE" {
                "not register it"
            } else {
                "register it where primary would not"
            }
        ));
    }
    if !same_json(dr.template_body.as_deref(), wanted.template_body.as_deref()) {
        differences.push(format!(
            "{id}'s JITP template in DR differs from primary's (ARNs mapped to DR)"
        ));
    }
    if dr.role_arn != wanted.role_arn {
        differences.push(format!(
            "{id}'s registration config names role {} in DR, expected {}",
            shown(&dr.role_arn),
            shown(&wanted.role_arn)
        ));
    }
    if dr.template_name != wanted.template_name {
        differences.push(format!(
            "{id}'s registration config names template {} in DR, {} in primary",
            shown(&dr.template_name),
            shown(&wanted.template_name)
        ));
    }
    differences
}

/// Two template bodies alike as JSON (key order and spacing aside), or as text when either
/// is not JSON.
fn same_json(a: Option<&str>, b: Option<&str>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => {
            match (
                serde_json::from_str::<serde_json::Value>(a),
                serde_json::from_str::<serde_json::Value>(b),
            ) {
                (Ok(a), Ok(b)) => a == b,
                _ => a == b,
            }
        }
        (a, b) => a == b,
    }
}

pub(super) async fn policies(session: &AwsSession, topology: &Topology) -> Check {
    const NAME: &str = "policies equal modulo ARNs";
    let names = |side: Side| async move {
        session
            .iot(side)
            .list_policies()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map(|policies| {
                policies
                    .iter()
                    .filter_map(|p| p.policy_name().and_then(|n| n.parse().ok()))
                    .collect::<BTreeSet<dr_core::PolicyName>>()
            })
            .map_err(|e| crate::error::port_error("ListPolicies", e))
    };
    let (in_primary, in_dr) = match tokio::join!(names(Side::Primary), names(Side::Dr)) {
        (Ok(p), Ok(d)) => (p, d),
        (Err(e), _) => return unreadable(NAME, Side::Primary, topology, &e),
        (_, Err(e)) => return unreadable(NAME, Side::Dr, topology, &e),
    };
    let primary = IotRegistry::for_side(session, topology, Side::Primary);
    let dr = IotRegistry::for_side(session, topology, Side::Dr);
    // Missing ones are known from the listings; only those on both sides cost a read each.
    let mut differ: Vec<String> = in_primary
        .difference(&in_dr)
        .map(|name| format!("{name} (missing)"))
        .collect();
    for name in in_primary.intersection(&in_dr) {
        let (p, d) = match tokio::join!(primary.policy(name), dr.policy(name)) {
            (Ok(Some(p)), Ok(d)) => (p, d),
            // Deleted in primary since it was listed.
            (Ok(None), _) => continue,
            (Err(e), _) => return unreadable(NAME, Side::Primary, topology, &e),
            (_, Err(e)) => return unreadable(NAME, Side::Dr, topology, &e),
        };
        let same = d.is_some_and(|d| {
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
        check(NAME, Verdict::Ok, format!("{} policies", in_primary.len()))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn rewrite() -> ArnRewrite {
        ArnRewrite::new(
            "111111111111".parse().unwrap(),
            "us-east-1".parse().unwrap(),
            "222222222222".parse().unwrap(),
            "us-west-2".parse().unwrap(),
        )
    }

    fn primary() -> CaRegistration {
        CaRegistration {
            status: Some("ACTIVE".to_owned()),
            mode: Some("DEFAULT".to_owned()),
            auto_registration: Some("ENABLE".to_owned()),
            template_body: Some(
                r#"{"Resources":{"policy":{"Type":"AWS::IoT::Policy","Properties":{"PolicyDocument":"{\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"iot:Connect\",\"Resource\":\"arn:aws:iot:us-east-1:111111111111:client/*\"}]}"}}}}"#
                    .to_owned(),
            ),
            role_arn: Some("arn:aws:iam::111111111111:role/jitp".to_owned()),
            template_name: None,
        }
    }

    /// What DR holds when it was registered as primary was, in its own account and region.
    fn as_in_dr() -> CaRegistration {
        CaRegistration {
            template_body: Some(
                r#"{"Resources": {"policy": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyDocument": "{\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"iot:Connect\",\"Resource\":\"arn:aws:iot:us-west-2:222222222222:client/*\"}]}"}}}}"#
                    .to_owned(),
            ),
            role_arn: Some("arn:aws:iam::222222222222:role/jitp".to_owned()),
            ..primary()
        }
    }

    #[test]
    fn a_ca_registered_in_dr_as_in_primary_with_dr_arns_has_no_differences() {
        let wanted = primary().in_dr(&rewrite());
        assert_eq!(
            ca_differences("ca", &wanted, &as_in_dr()),
            Vec::<String>::new()
        );
    }

    #[test]
    fn a_ca_deactivated_in_primary_but_active_in_dr_is_named_as_compromised() {
        let wanted = CaRegistration {
            status: Some("INACTIVE".to_owned()),
            ..primary()
        }
        .in_dr(&rewrite());
        let differences = ca_differences("ca", &wanted, &as_in_dr());
        assert_eq!(differences.len(), 1, "{differences:?}");
        assert!(
            differences[0].contains("ca is ACTIVE in DR but INACTIVE in primary")
                && differences[0].contains("compromised"),
            "{differences:?}"
        );
    }

    #[test]
    fn auto_registration_off_in_dr_only_and_primary_role_left_in_dr_are_named() {
        let wanted = primary().in_dr(&rewrite());
        let dr = CaRegistration {
            auto_registration: Some("DISABLE".to_owned()),
            role_arn: primary().role_arn,
            ..as_in_dr()
        };
        let differences = ca_differences("ca", &wanted, &dr);
        assert_eq!(differences.len(), 2, "{differences:?}");
        assert!(
            differences[0].contains("auto-registration DISABLE in DR, ENABLE in primary"),
            "{differences:?}"
        );
        assert!(
            differences[1].contains("role arn:aws:iam::111111111111:role/jitp in DR, expected arn:aws:iam::222222222222:role/jitp"),
            "{differences:?}"
        );
    }

    #[test]
    fn a_jitp_template_that_still_names_primary_differs() {
        let wanted = primary().in_dr(&rewrite());
        let dr = CaRegistration {
            template_body: primary().template_body,
            ..as_in_dr()
        };
        let differences = ca_differences("ca", &wanted, &dr);
        assert_eq!(differences.len(), 1, "{differences:?}");
        assert!(differences[0].contains("JITP template"), "{differences:?}");
    }

    #[test]
    fn unset_auto_registration_reads_as_disable() {
        let wanted = CaRegistration {
            auto_registration: None,
            ..primary()
        }
        .in_dr(&rewrite());
        let dr = CaRegistration {
            auto_registration: Some("DISABLE".to_owned()),
            ..as_in_dr()
        };
        assert_eq!(ca_differences("ca", &wanted, &dr), Vec::<String>::new());
    }
}
