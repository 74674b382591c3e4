//! [`RoleAliasRegistry`] on the IoT client: the credential provider's role aliases.
//!
//! CreateRoleAlias and UpdateRoleAlias need `iam:PassRole` on the role named (AWS checks
//! it as the caller's); the CDK app grants it to the replicator for DR's roles only, and
//! only towards the credentials service.

use dr_core::ids::RoleAliasName;
use dr_core::port::PortError;
use dr_core::replication::records::RoleAliasRecord;
use dr_core::replication::RoleAliasRegistry;

use super::IotRegistry;
use crate::error::{already_so, code, created, port_error};

impl RoleAliasRegistry for IotRegistry {
    async fn role_alias(&self, name: &RoleAliasName) -> Result<Option<RoleAliasRecord>, PortError> {
        self.call().await;
        let output = match self
            .client
            .describe_role_alias()
            .role_alias(name.as_str())
            .send()
            .await
        {
            Ok(output) => output,
            Err(e) if code(&e) == Some("ResourceNotFoundException") => return Ok(None),
            Err(e) => return Err(port_error("DescribeRoleAlias", e)),
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
        self.call().await;
        let result = self
            .client
            .create_role_alias()
            .role_alias(alias.role_alias.as_str())
            .role_arn(&alias.role_arn)
            .credential_duration_seconds(duration)
            .send()
            .await;
        if created(result, "CreateRoleAlias")? {
            return Ok(());
        }
        self.call().await;
        self.client
            .update_role_alias()
            .role_alias(alias.role_alias.as_str())
            .role_arn(&alias.role_arn)
            .credential_duration_seconds(duration)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| port_error("UpdateRoleAlias", e))
    }

    async fn delete_role_alias(&self, name: &RoleAliasName) -> Result<(), PortError> {
        self.call().await;
        already_so(
            self.client
                .delete_role_alias()
                .role_alias(name.as_str())
                .send()
                .await,
            "DeleteRoleAlias",
            "ResourceNotFoundException",
        )
    }
}
