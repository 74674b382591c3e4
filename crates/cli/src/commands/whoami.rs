//! `drctl whoami`: resolve both sides' identities through the session layer.

use anyhow::Context;
use dr_aws::AwsSession;
use dr_core::{Side, Topology};

pub(crate) async fn run(topology: &Topology) -> anyhow::Result<()> {
    let session = AwsSession::connect(topology, "drctl").await;
    for line in identities(&session, topology).await? {
        println!("{line}");
    }
    Ok(())
}

/// One line per side: the account and ARN its assumed role resolves to. Fails if a side
/// lands in an account other than the configured one.
pub(crate) async fn identities(
    session: &AwsSession,
    topology: &Topology,
) -> anyhow::Result<Vec<String>> {
    let mut lines = Vec::new();
    for side in [Side::Primary, Side::Dr] {
        let identity = session
            .sts(side)
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("{}", aws_sdk_sts::error::DisplayErrorContext(e)))
            .with_context(|| {
                format!(
                    "cannot assume {} for {side}; check the role exists and trusts the caller",
                    topology.side(side).role_arn
                )
            })?;
        let account = identity.account().unwrap_or_default();
        anyhow::ensure!(
            account == topology.side(side).account_id.as_str(),
            "{side} resolved to account {account}, but the config says {}",
            topology.side(side).account_id
        );
        lines.push(format!(
            "{side:<7}  account {account}  region {}  as {}",
            topology.side(side).region,
            identity.arn().unwrap_or_default()
        ));
    }
    Ok(lines)
}
