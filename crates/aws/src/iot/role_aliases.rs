//! [`RoleAliasRegistry`] on the IoT client: the credential provider's role aliases.
//!
//! CreateRoleAlias and UpdateRoleAlias need `iam:PassRole` on the role named (AWS checks
//! it as the caller's); the CDK app grants it to the replicator for DR's roles only, and
//! only towards the credentials service.

use dr_core::ids::RoleAliasName;
use dr_core::port::PortError;
use dr_core::replication::records::RoleAliasRecord;
use dr_core::replication::RoleAliasRegistry;

use super::{IotRegistry, ALREADY_EXISTS, NOT_FOUND};
use crate::call::Tolerate;

impl RoleAliasRegistry for IotRegistry {
    async fn role_alias(&self, name: &RoleAliasName) -> Result<Option<RoleAliasRecord>, PortError> {
        let request = self.client.describe_role_alias().role_alias(name.as_str());
        let Some(output) = self
            .calls
            .send("DescribeRoleAlias", || request.send())
            .await
            .none_on(NOT_FOUND)?
        else {
            return Ok(None);
        };
        let Some(description) = output.role_alias_description() else {
            return Ok(None);
        };
        Ok(Some(RoleAliasRecord {
            role_alias: name.clone(),
            role_arn: description.role_arn().unwrap_or_default().to_owned(),
            credential_duration_seconds: description
                .credential_duration_seconds()
                .and_then(|s| u32::try_from(s).ok())
                .unwrap_or(3600),
        }))
    }

    async fn put_role_alias(&self, alias: &RoleAliasRecord) -> Result<(), PortError> {
        let duration = i32::try_from(alias.credential_duration_seconds).unwrap_or(i32::MAX);
        let create = self
            .client
            .create_role_alias()
            .role_alias(alias.role_alias.as_str())
            .role_arn(&alias.role_arn)
            .credential_duration_seconds(duration);
        let created = self
            .calls
            .send("CreateRoleAlias", || create.send())
            .await
            .none_on(ALREADY_EXISTS)?;
        if created.is_some() {
            return Ok(());
        }
        let update = self
            .client
            .update_role_alias()
            .role_alias(alias.role_alias.as_str())
            .role_arn(&alias.role_arn)
            .credential_duration_seconds(duration);
        self.calls.send("UpdateRoleAlias", || update.send()).await?;
        Ok(())
    }

    async fn delete_role_alias(&self, name: &RoleAliasName) -> Result<(), PortError> {
        self.calls
            .send("DeleteRoleAlias", || {
                self.client
                    .delete_role_alias()
                    .role_alias(name.as_str())
                    .send()
            })
            .await
            .done_on(NOT_FOUND)
    }
}
