//! `[primary]` and `[dr]`: where each side lives and how the control plane reaches it.

use serde::{Deserialize, Serialize};

use super::FieldError;
use crate::ids::{AccountId, Region, RoleArn};
use crate::Side;

/// Where one side lives and how the control plane reaches it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SideConfig {
    /// The AWS account of this side.
    pub account_id: AccountId,
    /// The AWS region of this side.
    pub region: Region,
    /// The role the control plane assumes to act in this side's account. Always AssumeRole,
    /// never long-lived keys of the other account.
    pub role_arn: RoleArn,
}

impl SideConfig {
    /// Its role must belong to its own account: a role of the other account would mean
    /// long-lived access across accounts, which the design never allows.
    pub(super) fn check(&self, side: Side) -> Result<(), FieldError> {
        if self.role_arn.account_id() != self.account_id {
            return Err(FieldError::new(
                format!("{side}.role_arn"),
                format!(
                    "the role belongs to account {} but {side}.account_id is {}; \
                     use a role in the {side} account",
                    self.role_arn.account_id(),
                    self.account_id
                ),
            ));
        }
        Ok(())
    }
}
