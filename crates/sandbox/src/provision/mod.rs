//! Provisioning the local two-account world: everything the flows need, in both accounts.
//!
//! In AWS the CDK stacks (`infra/`) create these resources; in the sandbox this module does,
//! with the same names from the same [`Topology`]. Every step is idempotent ("already
//! exists" is success), so `drctl sandbox up` can run any number of times. Later flows add
//! their steps here.
//!
//! Bootstrapping relies on one moto behaviour: AssumeRole into a role that does not exist
//! yet succeeds and lands in that role's account, so we assume each side's control-plane
//! role and create it from inside its own account.

use std::fmt;

use aws_sdk_iam::error::{DisplayErrorContext, ProvideErrorMetadata};
use dr_aws::AwsSession;
use dr_core::{AccountId, RoleArn, Side, Topology};

pub mod failover;
mod kms;
pub mod replication;
pub mod snapshots;

/// One resource the provisioner ensured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provisioned {
    /// The account side it lives in.
    pub side: Side,
    /// What kind of resource (e.g. "iam role").
    pub kind: &'static str,
    /// Its ARN or name.
    pub id: String,
    /// Whether this run created it.
    pub outcome: Outcome,
}

/// Whether a resource was created now or found in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Created by this run.
    Created,
    /// Already there; left as it was.
    Existed,
}

impl fmt::Display for Provisioned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let outcome = match self.outcome {
            Outcome::Created => "created",
            Outcome::Existed => "exists ",
        };
        write!(
            f,
            "{outcome}  {:<7}  {:<10}  {}",
            self.side, self.kind, self.id
        )
    }
}

/// A provisioning step failed.
#[derive(Debug, thiserror::Error)]
#[error("provisioning {what} in {side} failed: {message}")]
pub struct ProvisionError {
    side: Side,
    what: String,
    message: String,
}

impl ProvisionError {
    fn new(side: Side, what: impl Into<String>, error: impl std::fmt::Display) -> Self {
        Self {
            side,
            what: what.into(),
            message: error.to_string(),
        }
    }
}

/// Ensure every resource of the local world exists in both accounts.
pub async fn provision(
    session: &AwsSession,
    topology: &Topology,
) -> Result<Vec<Provisioned>, ProvisionError> {
    let mut report = Vec::new();
    for side in [Side::Primary, Side::Dr] {
        report.push(ensure_control_plane_role(session, topology, side).await?);
    }
    report.extend(replication::provision(session, topology).await?);
    report.extend(snapshots::provision(session, topology).await?);
    report.extend(failover::provision(session, topology).await?);
    Ok(report)
}

/// The role the control plane assumes in each account. Its trust policy is the one the CDK
/// stacks deploy: the DR account may assume either role (the control plane runs there), and
/// each account may assume its own (the capture Lambda runs in primary).
async fn ensure_control_plane_role(
    session: &AwsSession,
    topology: &Topology,
    side: Side,
) -> Result<Provisioned, ProvisionError> {
    let role_arn = &topology.side(side).role_arn;
    let trusted = [&topology.dr.account_id, &topology.side(side).account_id];
    let result = session
        .iam(side)
        .create_role()
        .role_name(role_arn.role_name())
        .path(role_path(role_arn))
        .assume_role_policy_document(trust_policy(&trusted))
        .description("Assumed by the IoT DR control plane; see infra/ for its permissions")
        .send()
        .await;
    let outcome = match result {
        Ok(_) => Outcome::Created,
        Err(e) if e.code() == Some("EntityAlreadyExists") => Outcome::Existed,
        Err(e) => {
            return Err(ProvisionError {
                side,
                what: format!("role {role_arn}"),
                message: DisplayErrorContext(e).to_string(),
            })
        }
    };
    Ok(Provisioned {
        side,
        kind: "iam role",
        id: role_arn.to_string(),
        outcome,
    })
}

fn role_path(role_arn: &RoleArn) -> String {
    // arn:aws:iam::<account>:role/<path/>name → "/<path/>"
    let resource = role_arn.as_str().splitn(6, ':').nth(5).unwrap_or_default();
    let inner = resource
        .strip_prefix("role/")
        .and_then(|rest| rest.rsplit_once('/'))
        .map(|(path, _)| format!("/{path}/"));
    inner.unwrap_or_else(|| "/".to_owned())
}

fn trust_policy(accounts: &[&AccountId]) -> String {
    let mut principals: Vec<String> = accounts
        .iter()
        .map(|a| format!("arn:aws:iam::{a}:root"))
        .collect();
    principals.dedup();
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": { "AWS": principals },
            "Action": "sts:AssumeRole"
        }]
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_paths_come_from_the_arn() {
        let plain: RoleArn = "arn:aws:iam::111111111111:role/dr".parse().unwrap();
        assert_eq!(role_path(&plain), "/");
        let nested: RoleArn = "arn:aws:iam::111111111111:role/ops/dr/x".parse().unwrap();
        assert_eq!(role_path(&nested), "/ops/dr/");
    }
}
