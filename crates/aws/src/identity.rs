//! Who each side resolves to: the account and role the control plane acts as there, read
//! with STS GetCallerIdentity through the side's assumed role (`drctl whoami`, and the
//! sandbox after provisioning).

use aws_sdk_sts::error::SdkError;
use dr_core::port::NoAnswer;
use dr_core::{Side, Topology};

use crate::error::port_error;
use crate::AwsSession;

/// Why a side's identity could not be resolved: one line naming the side, its region,
/// the service and the cause in words (the chain of causes stays in [`Self::debug`]).
#[derive(Debug, thiserror::Error)]
#[error("{side} {region} STS: {cause}")]
pub struct IdentityError {
    /// The side.
    pub side: Side,
    /// Its region.
    pub region: String,
    /// What went wrong, in words.
    pub cause: String,
    /// The SDK's whole error, for `--verbose`.
    pub debug: String,
}

/// One line per side: the account and ARN its assumed role resolves to. Fails if a side
/// cannot be reached, refuses the role, or lands in an account other than the configured
/// one.
pub async fn whoami(
    session: &AwsSession,
    topology: &Topology,
) -> Result<Vec<String>, IdentityError> {
    let mut lines = Vec::new();
    for side in [Side::Primary, Side::Dr] {
        let config = topology.side(side);
        let error = |cause: String, debug: String| IdentityError {
            side,
            region: config.region.to_string(),
            cause,
            debug,
        };
        let identity = session
            .sts(side)
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| {
                let debug = format!("{e:?}");
                error(
                    cause_in_words(e, session, side, config.role_arn.as_ref()),
                    debug,
                )
            })?;
        let account = identity.account().unwrap_or_default();
        if account != config.account_id.as_str() {
            return Err(error(
                format!(
                    "resolved to account {account}, but the config says {}",
                    config.account_id
                ),
                String::new(),
            ));
        }
        lines.push(format!(
            "{side:<7}  account {account}  region {}  as {}",
            config.region,
            identity.arn().unwrap_or_default()
        ));
    }
    Ok(lines)
}

fn cause_in_words<E, R>(
    error: SdkError<E, R>,
    session: &AwsSession,
    side: Side,
    role: &str,
) -> String
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata
        + std::error::Error
        + Send
        + Sync
        + 'static,
    R: std::fmt::Debug + crate::error::HttpStatus,
{
    let endpoint = session.config(side).endpoint_url().map_or_else(
        || "the STS endpoint".to_owned(),
        |url| {
            url.trim_start_matches("http://")
                .trim_start_matches("https://")
                .to_owned()
        },
    );
    let port = port_error("GetCallerIdentity", error);
    match port.no_answer {
        Some(NoAnswer::TimedOut) => format!(
            "no answer from {endpoint} within {} s",
            session.timeouts().operation.as_secs_f64()
        ),
        Some(NoAnswer::Unreachable) => format!(
            "nothing answers at {endpoint} ({})",
            port.message.trim_start_matches("unreachable: ")
        ),
        None if port.role_refused() || port.access_denied() => {
            format!("role {role} does not exist or does not trust this caller")
        }
        None => port.message,
    }
}
