//! Customer-managed KMS keys by alias, shared by every flow's provisioning.

use aws_sdk_iam::error::{DisplayErrorContext, ProvideErrorMetadata};
use dr_core::Side;

use super::{Outcome, ProvisionError};

/// Ensure a key named `alias` exists, created with `policy` if it does not. Returns its ARN.
/// Safe against a concurrent provisioner: the loser of the alias race retires its new key.
pub(super) async fn ensure_key(
    kms: &aws_sdk_kms::Client,
    side: Side,
    alias: &str,
    description: &str,
    policy: String,
) -> Result<(String, Outcome), ProvisionError> {
    let error = |e: String| ProvisionError::new(side, format!("kms key {alias}"), e);
    if let Some(arn) = key_arn(kms, alias).await {
        return Ok((arn, Outcome::Existed));
    }
    let created = kms
        .create_key()
        .description(description)
        .policy(policy)
        .send()
        .await
        .map_err(|e| error(DisplayErrorContext(e).to_string()))?;
    let metadata = created
        .key_metadata()
        .ok_or_else(|| error("no key metadata".to_owned()))?;
    match kms
        .create_alias()
        .alias_name(alias)
        .target_key_id(metadata.key_id())
        .send()
        .await
    {
        Ok(_) => Ok((
            metadata.arn().unwrap_or_default().to_owned(),
            Outcome::Created,
        )),
        Err(e) if e.code() == Some("AlreadyExistsException") => {
            let _ = kms
                .schedule_key_deletion()
                .key_id(metadata.key_id())
                .pending_window_in_days(7)
                .send()
                .await;
            let arn = key_arn(kms, alias)
                .await
                .ok_or_else(|| error("the alias vanished after a concurrent create".to_owned()))?;
            Ok((arn, Outcome::Existed))
        }
        Err(e) => Err(error(DisplayErrorContext(e).to_string())),
    }
}

async fn key_arn(kms: &aws_sdk_kms::Client, alias: &str) -> Option<String> {
    let existing = kms.describe_key().key_id(alias).send().await.ok()?;
    existing
        .key_metadata()
        .and_then(|m| m.arn())
        .map(str::to_owned)
}
