//! What devices need of DR's registry beyond their certificates: the CAs that sign them
//! and the policies that authorize them.

use aws_sdk_iot::types::CaCertificateStatus;
use dr_core::reconcile::PolicyDigest;
use dr_core::replication::CertificateRegistry;
use dr_core::{Side, Topology};

use super::{check, unreadable, Check, Verdict};
use crate::iot::IotRegistry;
use crate::AwsSession;

pub(super) async fn certificate_authorities(session: &AwsSession, topology: &Topology) -> Check {
    const NAME: &str = "CAs in DR";
    let (primary, dr) = (session.iot(Side::Primary), session.iot(Side::Dr));
    let listed = match primary.list_ca_certificates().send().await {
        Ok(listed) => listed,
        Err(e) => {
            let error = crate::error::port_error("ListCACertificates", e);
            return unreadable(NAME, Side::Primary, topology, &error);
        }
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

pub(super) async fn policies(session: &AwsSession, topology: &Topology) -> Check {
    const NAME: &str = "policies equal modulo ARNs";
    let primary = IotRegistry::for_side(session, topology, Side::Primary);
    let dr = IotRegistry::for_side(session, topology, Side::Dr);
    let names = match session.iot(Side::Primary).list_policies().send().await {
        Ok(listed) => listed
            .policies()
            .iter()
            .filter_map(|p| p.policy_name().and_then(|n| n.parse().ok()))
            .collect::<Vec<dr_core::PolicyName>>(),
        Err(e) => {
            let error = crate::error::port_error("ListPolicies", e);
            return unreadable(NAME, Side::Primary, topology, &error);
        }
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
