//! Provisioning the local two-account world: everything the flows need, in both accounts.
//!
//! In AWS the CDK stacks (`infra/`) create these resources; in the sandbox this module does,
//! with the same names from the same [`Topology`]. Every step is idempotent ("already
//! exists" is success), so `drctl-sandbox up` can run any number of times. Later flows add
//! their steps here.
//!
//! Provisioning runs as the administrator (`sandbox:<world>:admin`), whom the sandbox's IAM
//! does not evaluate; moto lets AssumeRole land in any account, so the administrator acts in
//! each account through its `role_arn`. Last, the roles the CDK app would create are
//! registered with the sandbox's IAM ([`iam`]): from then on every other principal is held
//! to exactly their statements.

use std::fmt;

use dr_aws::AwsSession;
use dr_core::{Side, Topology};

mod ec2;
pub mod failover;
pub mod iam;
mod kms;
pub mod network;
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
    /// Already there, and changed to what it must be now.
    Updated,
}

impl fmt::Display for Provisioned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let outcome = match self.outcome {
            Outcome::Created => "created",
            Outcome::Existed => "exists ",
            Outcome::Updated => "updated",
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
    pub(crate) fn new(side: Side, what: impl Into<String>, error: impl std::fmt::Display) -> Self {
        Self {
            side,
            what: what.into(),
            message: error.to_string(),
        }
    }
}

/// Ensure every resource of the local world exists in both accounts, then register the
/// roles the CDK app creates for `topology` with the sandbox's IAM (its world). Runs as the
/// accounts' administrator, as CloudFormation does in AWS.
pub async fn provision(topology: &Topology) -> Result<Vec<Provisioned>, ProvisionError> {
    let admin = crate::identity::as_admin(topology);
    let session = AwsSession::connect(&admin, "sandbox").await;
    let mut report = Vec::new();
    report.extend(replication::provision(&session, &admin).await?);
    report.extend(snapshots::provision(&session, &admin).await?);
    report.extend(failover::provision(&session, &admin).await?);
    report.extend(network::provision(&session, &admin).await?);
    report.push(iam::provision(&session, topology).await?);
    Ok(report)
}

/// Register the roles of `topology` with the sandbox's IAM again, after a change that
/// changes what the CDK app would grant (a database protected, a probe added) but needs no
/// new resource.
pub async fn register_world(topology: &Topology) -> Result<Provisioned, ProvisionError> {
    let admin = crate::identity::as_admin(topology);
    let session = AwsSession::connect(&admin, "sandbox").await;
    iam::provision(&session, topology).await
}
