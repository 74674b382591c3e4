//! What a simulation found: each certificate's status in primary against DR's, and the
//! fleet's setup (groups, group policy, role alias, enrolment template) DR lacks.

use std::time::Duration;

use dr_aws::iot::IotRegistry;
use dr_aws::AwsSession;
use dr_core::replication::CertificateRegistry;
use dr_core::{CertificateId, CertificateStatus, Side, Topology};

use super::canary::CanaryFiles;
use super::error::{call_failed, FleetError};
use super::naming::{
    CANARY, FLEET_ROOT_GROUP, FLEET_WARD_GROUP, GROUP_POLICY, PROVISIONING_TEMPLATE, ROLE_ALIAS,
};
use crate::local_lambda::Poll;

/// A certificate whose DR status differs from primary's after replication.
#[derive(Debug, Clone)]
pub struct Mismatch {
    /// Which certificate.
    pub id: CertificateId,
    /// Primary's status.
    pub primary: Option<CertificateStatus>,
    /// DR's status.
    pub dr: Option<CertificateStatus>,
}

/// What the simulation did and found.
#[derive(Debug)]
pub struct FleetReport {
    /// The fleet CA's id.
    pub fleet_ca: CertificateId,
    /// Devices registered (canary included).
    pub registered: usize,
    /// Of those, by JITR.
    pub jitr: usize,
    /// Revoked certificates.
    pub revoked: Vec<CertificateId>,
    /// Events handed to capture.
    pub events: usize,
    /// Messages capture published.
    pub published: usize,
    /// Messages handed to the replicator, and how many it reported failed.
    pub deliveries: Poll,
    /// The canary's files.
    pub canary: CanaryFiles,
    /// Certificates whose DR status differs from primary's (empty when replication worked).
    pub mismatches: Vec<Mismatch>,
    /// What of the fleet's groups, group policy and role alias DR lacks (empty when
    /// replication worked).
    pub setup_missing: Vec<String>,
    /// Wall time of the whole simulation.
    pub elapsed: Duration,
}

/// Every certificate's status in primary and in DR.
pub(super) async fn compare(
    session: &AwsSession,
    topology: &Topology,
    ids: &[CertificateId],
) -> Result<Vec<Mismatch>, FleetError> {
    let primary = IotRegistry::for_side(session, topology, Side::Primary);
    let dr = IotRegistry::for_side(session, topology, Side::Dr);
    let mut mismatches = Vec::new();
    for id in ids {
        let (in_primary, in_dr) = (status_of(&primary, id).await?, status_of(&dr, id).await?);
        if in_primary.map(CertificateStatus::in_dr) != in_dr {
            mismatches.push(Mismatch {
                id: id.clone(),
                primary: in_primary,
                dr: in_dr,
            });
        }
    }
    Ok(mismatches)
}

/// The fleet's groups (with the canary in its ward), the group policy and the role alias
/// that DR lacks.
pub(super) async fn missing_setup(
    session: &AwsSession,
    topology: &Topology,
) -> Result<Vec<String>, FleetError> {
    use dr_core::replication::{
        ProvisioningTemplateRegistry, RoleAliasRegistry, ThingGroupRegistry,
    };
    let dr = IotRegistry::for_side(session, topology, Side::Dr);
    let failed = |call: &str| {
        let call = call.to_owned();
        move |e: dr_core::port::PortError| call_failed(call)(e.to_string())
    };
    let mut missing = Vec::new();
    let ward: dr_core::ThingGroupName = FLEET_WARD_GROUP.parse().expect("a valid name");
    let root: dr_core::ThingGroupName = FLEET_ROOT_GROUP.parse().expect("a valid name");
    match dr
        .thing_group(&ward)
        .await
        .map_err(failed("DescribeThingGroup"))?
    {
        Some(group) if group.ancestors == [root.clone()] => {}
        Some(group) => missing.push(format!("{ward} under {:?}, not {root}", group.parent())),
        None => missing.push(format!("thing group {ward}")),
    }
    let policies = dr
        .thing_group_policy_names(&root)
        .await
        .map_err(failed("ListAttachedPolicies"))?;
    if !policies.iter().any(|p| p.as_str() == GROUP_POLICY) {
        missing.push(format!("{GROUP_POLICY} on {root}"));
    }
    let canary = CANARY.parse().expect("a valid name");
    if !dr
        .thing_group_names(&canary)
        .await
        .map_err(failed("ListThingGroupsForThing"))?
        .contains(&ward)
    {
        missing.push(format!("{CANARY} in {ward}"));
    }
    let alias = ROLE_ALIAS.parse().expect("a valid name");
    if dr
        .role_alias(&alias)
        .await
        .map_err(failed("DescribeRoleAlias"))?
        .is_none()
    {
        missing.push(format!("role alias {ROLE_ALIAS}"));
    }
    let template = PROVISIONING_TEMPLATE.parse().expect("a valid name");
    if dr
        .provisioning_template(&template)
        .await
        .map_err(failed("DescribeProvisioningTemplate"))?
        .is_none()
    {
        missing.push(format!("provisioning template {PROVISIONING_TEMPLATE}"));
    }
    Ok(missing)
}

async fn status_of(
    registry: &IotRegistry,
    id: &CertificateId,
) -> Result<Option<CertificateStatus>, FleetError> {
    registry
        .certificate(id)
        .await
        .map(|view| view.map(|v| v.status))
        .map_err(|e| call_failed("DescribeCertificate")(e.to_string()))
}
