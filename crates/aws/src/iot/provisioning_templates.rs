//! [`ProvisioningTemplateRegistry`] on the IoT client: fleet-provisioning templates.
//!
//! AWS keeps a template's body in numbered versions (at most five) and provisions with the
//! default one; settings (enabled, role, hook) live on the template. So a body change
//! becomes a new default version in DR, deleting DR's oldest non-default version first when
//! all five are used, and a settings change an UpdateProvisioningTemplate. Creating or
//! updating a template passes its provisioning role to IoT (`iam:PassRole`, granted for
//! DR's roles only, towards iot.amazonaws.com).

use aws_sdk_iot::operation::create_provisioning_template_version::CreateProvisioningTemplateVersionOutput;
use aws_sdk_iot::types::{ProvisioningHook as SdkHook, TemplateType as SdkType};
use dr_core::ids::TemplateName;
use dr_core::port::PortError;
use dr_core::replication::template::{
    ProvisioningHook, ProvisioningTemplateRecord, TemplateType, HOOK_PAYLOAD_VERSION,
};
use dr_core::replication::ProvisioningTemplateRegistry;

use super::{IotRegistry, ALREADY_EXISTS, NOT_FOUND};
use crate::call::{CallError, Tolerate};

/// AWS keeps at most five versions of a provisioning template.
const MAX_TEMPLATE_VERSIONS: usize = 5;

/// IoT's answer when all of a template's versions are used.
const VERSIONS_LIMIT: &[&str] = &["VersionsLimitExceededException"];

impl ProvisioningTemplateRegistry for IotRegistry {
    async fn provisioning_template(
        &self,
        name: &TemplateName,
    ) -> Result<Option<ProvisioningTemplateRecord>, PortError> {
        let request = self
            .client
            .describe_provisioning_template()
            .template_name(name.as_str());
        let Some(output) = self
            .calls
            .send("DescribeProvisioningTemplate", || request.send())
            .await
            .none_on(NOT_FOUND)?
        else {
            return Ok(None);
        };
        Ok(Some(ProvisioningTemplateRecord {
            template_name: name.clone(),
            // AWS has no way to clear a description but to set it empty.
            description: output
                .description()
                .filter(|d| !d.is_empty())
                .map(str::to_owned),
            template_body: output.template_body().unwrap_or_default().to_owned(),
            enabled: output.enabled().unwrap_or(false),
            provisioning_role_arn: output
                .provisioning_role_arn()
                .unwrap_or_default()
                .to_owned(),
            pre_provisioning_hook: output.pre_provisioning_hook().map(|hook| ProvisioningHook {
                payload_version: hook
                    .payload_version()
                    .unwrap_or(HOOK_PAYLOAD_VERSION)
                    .to_owned(),
                target_arn: hook.target_arn().to_owned(),
            }),
            template_type: match output.r#type() {
                Some(SdkType::Jitp) => TemplateType::Jitp,
                _ => TemplateType::FleetProvisioning,
            },
            policies: Vec::new(),
        }))
    }

    async fn put_provisioning_template(
        &self,
        template: &ProvisioningTemplateRecord,
    ) -> Result<(), PortError> {
        let Some(in_place) = self.provisioning_template(&template.template_name).await? else {
            return self.create_template(template).await;
        };
        if in_place.template_type != template.template_type {
            // AWS fixes a template's type when it is created: primary recreated it.
            self.delete_provisioning_template(&template.template_name)
                .await?;
            return self.create_template(template).await;
        }
        if !in_place.same_body(template) {
            self.new_default_version(template).await?;
        }
        if in_place.same_settings(template) {
            return Ok(());
        }
        let mut update = self
            .client
            .update_provisioning_template()
            .template_name(template.template_name.as_str())
            .description(template.description.clone().unwrap_or_default())
            .enabled(template.enabled)
            .provisioning_role_arn(&template.provisioning_role_arn);
        update = match &template.pre_provisioning_hook {
            Some(hook) => update.pre_provisioning_hook(sdk_hook(hook)?),
            None if in_place.pre_provisioning_hook.is_some() => {
                update.remove_pre_provisioning_hook(true)
            }
            None => update,
        };
        self.calls
            .send("UpdateProvisioningTemplate", || update.send())
            .await?;
        Ok(())
    }

    async fn delete_provisioning_template(&self, name: &TemplateName) -> Result<(), PortError> {
        let request = self
            .client
            .delete_provisioning_template()
            .template_name(name.as_str());
        self.calls
            .send("DeleteProvisioningTemplate", || request.send())
            .await
            .done_on(NOT_FOUND)
    }
}

impl IotRegistry {
    async fn create_template(
        &self,
        template: &ProvisioningTemplateRecord,
    ) -> Result<(), PortError> {
        let mut create = self
            .client
            .create_provisioning_template()
            .template_name(template.template_name.as_str())
            .template_body(&template.template_body)
            .enabled(template.enabled)
            .provisioning_role_arn(&template.provisioning_role_arn)
            .r#type(match template.template_type {
                TemplateType::FleetProvisioning => SdkType::FleetProvisioning,
                TemplateType::Jitp => SdkType::Jitp,
            })
            .set_description(template.description.clone());
        if let Some(hook) = &template.pre_provisioning_hook {
            create = create.pre_provisioning_hook(sdk_hook(hook)?);
        }
        let created = self
            .calls
            .send("CreateProvisioningTemplate", || create.send())
            .await
            .none_on(ALREADY_EXISTS)?;
        if created.is_none() {
            // Created since we looked (a concurrent apply): the retry takes the update path.
            return Err(PortError::transient(
                "CreateProvisioningTemplate",
                "created concurrently",
            ));
        }
        Ok(())
    }

    /// Make `template`'s body DR's default version, making room when all five are used.
    /// A version made meanwhile by a concurrent apply can still fill the fifth slot: then
    /// the room is made again, once.
    async fn new_default_version(
        &self,
        template: &ProvisioningTemplateRecord,
    ) -> Result<(), PortError> {
        self.make_room_for_a_version(&template.template_name)
            .await?;
        let created = self
            .create_default_version(template)
            .await
            .none_on(VERSIONS_LIMIT)?;
        if created.is_none() {
            self.make_room_for_a_version(&template.template_name)
                .await?;
            self.create_default_version(template).await?;
        }
        Ok(())
    }

    async fn create_default_version(
        &self,
        template: &ProvisioningTemplateRecord,
    ) -> Result<CreateProvisioningTemplateVersionOutput, CallError> {
        let request = self
            .client
            .create_provisioning_template_version()
            .template_name(template.template_name.as_str())
            .template_body(&template.template_body)
            .set_as_default(true);
        self.calls
            .send("CreateProvisioningTemplateVersion", || request.send())
            .await
    }

    /// Delete DR's oldest non-default versions until one more fits under the limit.
    async fn make_room_for_a_version(&self, name: &TemplateName) -> Result<(), PortError> {
        let versions = self
            .calls
            .pages(
                "ListProvisioningTemplateVersions",
                |token| {
                    self.client
                        .list_provisioning_template_versions()
                        .template_name(name.as_str())
                        .set_next_token(token)
                        .send()
                },
                |page| (page.versions.unwrap_or_default(), page.next_token),
            )
            .await?;
        let mut old: Vec<i32> = versions
            .iter()
            .filter(|v| !v.is_default_version())
            .filter_map(|v| v.version_id())
            .collect();
        old.sort_unstable();
        let surplus = (versions.len() + 1).saturating_sub(MAX_TEMPLATE_VERSIONS);
        for version in old.into_iter().take(surplus) {
            let request = self
                .client
                .delete_provisioning_template_version()
                .template_name(name.as_str())
                .version_id(version);
            self.calls
                .send("DeleteProvisioningTemplateVersion", || request.send())
                .await
                .done_on(NOT_FOUND)?;
        }
        Ok(())
    }
}

fn sdk_hook(hook: &ProvisioningHook) -> Result<SdkHook, PortError> {
    SdkHook::builder()
        .payload_version(&hook.payload_version)
        .target_arn(&hook.target_arn)
        .build()
        .map_err(|e| PortError::permanent("ProvisioningHook", e.to_string()))
}
