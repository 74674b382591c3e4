//! The roles the CDK app creates for this topology, registered with the sandbox's IAM under
//! the topology's world: what a deploy would create, with the same statements
//! (`infra/bin/sandbox-iam.ts` reads them from the stacks, built from the topology's
//! deployment contract; one source of truth).
//!
//! The export names keys and the hosted zone by placeholders the sandbox fills in from what
//! provisioning created: `{{kms-key-id:<alias>}}` in a key ARN, `{{hosted-zone-id}}`. A key
//! the sandbox has no twin of (primary's operators' key) keeps its placeholder, which
//! matches no call.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use dr_aws::AwsSession;
use dr_core::{Side, Topology};
use tokio::io::AsyncWriteExt;

use super::{Outcome, ProvisionError, Provisioned};
use crate::fault_proxy::control::ProxyClient;
use crate::iam::{RoleExport, WorldExport};
use crate::identity::operator_principal_arn;
use crate::LauncherPaths;

/// How long the CDK app may take to render the roles (about a second here).
const EXPORT_TIMEOUT: Duration = Duration::from_secs(60);

/// Export, resolve and register the world of `topology` (`[sandbox] world`).
pub(super) async fn provision(
    session: &AwsSession,
    topology: &Topology,
) -> Result<Provisioned, ProvisionError> {
    let sandbox = topology.sandbox.as_ref().ok_or_else(|| {
        ProvisionError::new(
            Side::Dr,
            "sandbox IAM",
            "the topology has no [sandbox] section",
        )
    })?;
    let mut export = export(topology).await?;
    resolve_placeholders(session, topology, &mut export).await?;
    export.roles.push(operator_principal(topology));
    export.operator_principal = Some(operator_principal_arn(topology));
    let (roles, registration) = ProxyClient::new(sandbox.endpoint.as_str())
        .register_world(sandbox.world.as_str(), &export)
        .await
        .map_err(|e| ProvisionError::new(Side::Dr, "sandbox IAM", e))?;
    Ok(Provisioned {
        side: Side::Dr,
        kind: "iam world",
        id: format!("{} ({roles} roles of the CDK app, enforced)", sandbox.world),
        outcome: match registration.as_str() {
            "unchanged" => Outcome::Existed,
            "updated" => Outcome::Updated,
            _ => Outcome::Created,
        },
    })
}

/// The CDK app's export: `node infra/dist/bin/sandbox-iam.js - <operator>`, with the
/// topology's deployment contract on its stdin, built by the code `drctl config export`
/// runs ([`dr_aws::contract`]): what the CDK app reads for a deploy, no drctl needed.
pub async fn export(topology: &Topology) -> Result<WorldExport, ProvisionError> {
    let failed = |why: String| ProvisionError::new(Side::Dr, "sandbox IAM export", why);
    let script = exporter_script();
    if !script.exists() {
        return Err(failed(format!(
            "{} not found: build the CDK app first (`make infra-build`)",
            script.display()
        )));
    }
    let contract = dr_aws::contract::render(topology).map_err(|e| failed(e.to_string()))?;
    let mut child = tokio::process::Command::new("node")
        .arg(&script)
        .arg("-")
        .arg(operator_principal_arn(topology))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| failed(format!("cannot run node: {e} (the CDK app needs Node.js)")))?;
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let run = async {
        // Written whole, then closed: the exporter reads to the end before it parses.
        stdin.write_all(contract.as_bytes()).await?;
        drop(stdin);
        child.wait_with_output().await
    };
    let output = tokio::time::timeout(EXPORT_TIMEOUT, run)
        .await
        .map_err(|_| {
            failed(format!(
                "node did not answer within {} s",
                EXPORT_TIMEOUT.as_secs()
            ))
        })?
        .map_err(|e| failed(format!("node: {e}")))?;
    if !output.status.success() {
        return Err(failed(
            String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        ));
    }
    serde_json::from_slice(&output.stdout).map_err(|e| failed(format!("its output: {e}")))
}

fn exporter_script() -> PathBuf {
    LauncherPaths::repo_root().join("infra/dist/bin/sandbox-iam.js")
}

/// The sandbox's stand-in for the operators' own principal (their SSO role in AWS, which
/// the CDK app trusts as `operatorPrincipal`): it may assume both sides' `role_arn`.
fn operator_principal(topology: &Topology) -> RoleExport {
    RoleExport {
        arn: operator_principal_arn(topology),
        kind: "sandbox".to_owned(),
        function: None,
        trust: serde_json::json!({"Version": "2012-10-17", "Statement": []}),
        policies: vec![serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Action": "sts:AssumeRole",
                "Resource": [topology.primary.role_arn.as_str(), topology.dr.role_arn.as_str()],
            }]
        })],
    }
}

/// Fill in the ids the export could not know.
async fn resolve_placeholders(
    session: &AwsSession,
    topology: &Topology,
    export: &mut WorldExport,
) -> Result<(), ProvisionError> {
    let mut text = serde_json::to_string(&export.roles).unwrap_or_default();
    if text.contains("{{hosted-zone-id}}") {
        let zone = hosted_zone_id(session, topology).await?;
        text = text.replace("{{hosted-zone-id}}", &zone);
    }
    // arn:aws:kms:<region>:<account>:key/{{kms-key-id:<alias>}}
    let mut keys = Vec::new();
    for (i, _) in text.match_indices("{{kms-key-id:") {
        let before = &text[..i];
        let Some(start) = before.rfind("arn:aws:kms:") else {
            continue;
        };
        let mut parts = before[start..].split(':');
        let (Some(region), Some(account)) = (parts.nth(3), parts.next()) else {
            continue;
        };
        let Some(end) = text[i..].find("}}") else {
            continue;
        };
        let alias = &text[i + "{{kms-key-id:".len()..i + end];
        keys.push((
            region.to_owned(),
            account.to_owned(),
            alias.to_owned(),
            text[i..i + end + 2].to_owned(),
        ));
    }
    keys.sort();
    keys.dedup();
    for (region, account, alias, placeholder) in keys {
        let side = if account == topology.dr.account_id.as_str() {
            Side::Dr
        } else {
            Side::Primary
        };
        let region: dr_core::Region = region
            .parse()
            .map_err(|e| ProvisionError::new(side, "sandbox IAM", format!("{e}")))?;
        if let Ok(found) = session
            .kms_in(side, &region)
            .describe_key()
            .key_id(&alias)
            .send()
            .await
        {
            if let Some(id) = found.key_metadata().map(|m| m.key_id().to_owned()) {
                let arn_prefix = format!("arn:aws:kms:{region}:{account}:key/");
                text = text.replace(
                    &format!("{arn_prefix}{placeholder}"),
                    &format!("{arn_prefix}{id}"),
                );
            }
        }
    }
    export.roles = serde_json::from_str::<Vec<RoleExport>>(&text)
        .map_err(|e| ProvisionError::new(Side::Dr, "sandbox IAM", e))?;
    Ok(())
}

async fn hosted_zone_id(
    session: &AwsSession,
    topology: &Topology,
) -> Result<String, ProvisionError> {
    let wanted = format!("{}.", topology.dns.zone.as_str().trim_end_matches('.'));
    let zones = session
        .route53(Side::Dr)
        .list_hosted_zones_by_name()
        .dns_name(&wanted)
        .send()
        .await
        .map_err(|e| {
            ProvisionError::new(
                Side::Dr,
                "hosted zone",
                aws_sdk_iam::error::DisplayErrorContext(e),
            )
        })?;
    zones
        .hosted_zones()
        .iter()
        .find(|z| z.name() == wanted)
        .map(|z| z.id().trim_start_matches("/hostedzone/").to_owned())
        .ok_or_else(|| ProvisionError::new(Side::Dr, "hosted zone", format!("no zone {wanted}")))
}
