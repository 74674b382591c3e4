//! [`ThingGroupRegistry`] on the same IoT client: groups, their hierarchy, memberships and
//! the policies attached to them.
//!
//! AWS fixes a group's parent and kind (static or dynamic) when it is created, so
//! `put_thing_group` reports a group found elsewhere as [`GroupWrite::Misplaced`] instead of
//! pretending to move it.

use dr_core::port::PortError;
use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_iot::types::ThingGroupProperties;
use dr_core::ids::{PolicyName, ThingGroupName, ThingName};
use dr_core::replication::ports::GroupWrite;
use dr_core::replication::records::{DynamicGroupQuery, GroupRef, PolicyRecord, ThingGroupRecord};
use dr_core::replication::ThingGroupRegistry;

use super::{attribute_payload, IotRegistry, ALREADY_EXISTS, NOT_FOUND};
use crate::call::Tolerate;

impl IotRegistry {
    /// A thing group's ARN in this registry's account and region (policy targets).
    pub fn thing_group_arn(&self, name: &ThingGroupName) -> String {
        format!(
            "arn:aws:iot:{}:{}:thinggroup/{name}",
            self.region, self.account
        )
    }

    fn group_properties(group: &ThingGroupRecord) -> ThingGroupProperties {
        ThingGroupProperties::builder()
            // An empty description clears one DR still has.
            .thing_group_description(group.description.clone().unwrap_or_default())
            .attribute_payload(attribute_payload(&group.attributes))
            .build()
    }

    /// Create `group`; `Ok(false)` if a group of that name exists already.
    async fn create_group(&self, group: &ThingGroupRecord) -> Result<bool, PortError> {
        let properties = Self::group_properties(group);
        let created = match &group.query {
            None => {
                let request = self
                    .client
                    .create_thing_group()
                    .thing_group_name(group.group_name.as_str())
                    .set_parent_group_name(group.parent().map(|p| p.as_str().to_owned()))
                    .thing_group_properties(properties);
                self.calls
                    .send("CreateThingGroup", || request.send())
                    .await
                    .map(drop)
            }
            Some(query) => {
                let request = self
                    .client
                    .create_dynamic_thing_group()
                    .thing_group_name(group.group_name.as_str())
                    .query_string(&query.query_string)
                    .set_index_name(query.index_name.clone())
                    .set_query_version(query.query_version.clone())
                    .thing_group_properties(properties);
                self.calls
                    .send("CreateDynamicThingGroup", || request.send())
                    .await
                    .map(drop)
            }
        };
        Ok(created.none_on(ALREADY_EXISTS)?.is_some())
    }

    async fn update_group(&self, group: &ThingGroupRecord) -> Result<(), PortError> {
        let properties = Self::group_properties(group);
        match &group.query {
            None => {
                let request = self
                    .client
                    .update_thing_group()
                    .thing_group_name(group.group_name.as_str())
                    .thing_group_properties(properties);
                self.calls
                    .send("UpdateThingGroup", || request.send())
                    .await?;
            }
            Some(query) => {
                let request = self
                    .client
                    .update_dynamic_thing_group()
                    .thing_group_name(group.group_name.as_str())
                    .query_string(&query.query_string)
                    .set_index_name(query.index_name.clone())
                    .set_query_version(query.query_version.clone())
                    .thing_group_properties(properties);
                self.calls
                    .send("UpdateDynamicThingGroup", || request.send())
                    .await?;
            }
        }
        Ok(())
    }

    async fn group_names_of(&self, thing: &ThingName) -> Result<Vec<ThingGroupName>, PortError> {
        let groups = self
            .calls
            .pages(
                "ListThingGroupsForThing",
                |token| {
                    self.client
                        .list_thing_groups_for_thing()
                        .thing_name(thing.as_str())
                        .set_next_token(token)
                        .send()
                },
                |page| (page.thing_groups.unwrap_or_default(), page.next_token),
            )
            .await
            // A thing deleted meanwhile belongs to nothing; its deletion event follows.
            .none_on(NOT_FOUND)?
            .unwrap_or_default();
        Ok(groups
            .iter()
            .filter_map(|g| g.group_name())
            .filter_map(|name| name.parse().ok())
            .collect())
    }
}

impl ThingGroupRegistry for IotRegistry {
    async fn thing_group(
        &self,
        name: &ThingGroupName,
    ) -> Result<Option<ThingGroupRecord>, PortError> {
        let request = self
            .client
            .describe_thing_group()
            .thing_group_name(name.as_str());
        let Some(output) = self
            .calls
            .send("DescribeThingGroup", || request.send())
            .await
            .none_on(NOT_FOUND)?
        else {
            return Ok(None);
        };
        let properties = output.thing_group_properties();
        let ancestors = output
            .thing_group_metadata()
            .map(|m| m.root_to_parent_thing_groups())
            .unwrap_or_default()
            .iter()
            .filter_map(|g| g.group_name())
            .map(|g| {
                g.parse().map_err(|e| {
                    PortError::permanent("DescribeThingGroup", format!("group {name}: {e}"))
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Some(ThingGroupRecord {
            group_name: name.clone(),
            ancestors,
            description: properties
                .and_then(|p| p.thing_group_description())
                .filter(|d| !d.is_empty())
                .map(str::to_owned),
            attributes: properties
                .and_then(|p| p.attribute_payload())
                .and_then(|a| a.attributes())
                .map(|a| a.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_else(BTreeMap::new),
            query: output.query_string().map(|query| DynamicGroupQuery {
                query_string: query.to_owned(),
                index_name: output.index_name().map(str::to_owned),
                query_version: output.query_version().map(str::to_owned),
            }),
            policies: Vec::new(),
        }))
    }

    async fn thing_group_policies(
        &self,
        name: &ThingGroupName,
    ) -> Result<Vec<PolicyRecord>, PortError> {
        let names = self.thing_group_policy_names(name).await?;
        self.with_documents(names).await
    }

    async fn thing_group_policy_names(
        &self,
        name: &ThingGroupName,
    ) -> Result<BTreeSet<PolicyName>, PortError> {
        // A group deleted meanwhile has nothing attached.
        Ok(self
            .attached_policy_names(self.thing_group_arn(name))
            .await?
            .unwrap_or_default())
    }

    async fn ensure_thing_group(
        &self,
        name: &ThingGroupName,
        parent: Option<&ThingGroupName>,
    ) -> Result<(), PortError> {
        let request = self
            .client
            .create_thing_group()
            .thing_group_name(name.as_str())
            .set_parent_group_name(parent.map(|p| p.as_str().to_owned()));
        self.calls
            .send("CreateThingGroup", || request.send())
            .await
            .done_on(ALREADY_EXISTS)
    }

    async fn put_thing_group(&self, group: &ThingGroupRecord) -> Result<GroupWrite, PortError> {
        // Twice at most: a group created by someone else between our read and our create
        // is then read and set as ours.
        for _ in 0..2 {
            if let Some(existing) = self.thing_group(&group.group_name).await? {
                if existing.ancestors != group.ancestors
                    || existing.query.is_some() != group.query.is_some()
                {
                    return Ok(GroupWrite::Misplaced);
                }
                self.update_group(group).await?;
                return Ok(GroupWrite::Done);
            }
            if self.create_group(group).await? {
                return Ok(GroupWrite::Done);
            }
        }
        Err(PortError::transient(
            "CreateThingGroup",
            format!(
                "thing group {} exists and then does not; retrying",
                group.group_name
            ),
        ))
    }

    async fn delete_thing_group(&self, name: &ThingGroupName) -> Result<(), PortError> {
        let Some(existing) = self.thing_group(name).await? else {
            return Ok(());
        };
        let deleted = if existing.query.is_some() {
            let request = self
                .client
                .delete_dynamic_thing_group()
                .thing_group_name(name.as_str());
            self.calls
                .send("DeleteDynamicThingGroup", || request.send())
                .await
                .map(drop)
        } else {
            let request = self
                .client
                .delete_thing_group()
                .thing_group_name(name.as_str());
            self.calls
                .send("DeleteThingGroup", || request.send())
                .await
                .map(drop)
        };
        match deleted.map_err(PortError::from) {
            // A parent goes after its children; their deletions are in their own message
            // groups and may not have arrived yet: worth retrying, not a poison message.
            Err(e) if e.message.contains("child groups") => Err(PortError::transient(
                &e.operation,
                format!("thing group {name} still has child groups in DR; retrying once their deletions arrive"),
            )),
            other => other,
        }
    }

    async fn attach_group_policy(
        &self,
        policy: &PolicyName,
        group: &ThingGroupName,
    ) -> Result<(), PortError> {
        let request = self
            .client
            .attach_policy()
            .policy_name(policy.as_str())
            .target(self.thing_group_arn(group));
        let attached = self
            .calls
            .send("AttachPolicy", || request.send())
            .await
            .none_on(NOT_FOUND)?;
        if attached.is_none() {
            self.forget_policy(policy);
            return Err(PortError::transient(
                "AttachPolicy",
                format!("policy {policy} or thing group {group} is gone from this account; retrying recreates them"),
            ));
        }
        Ok(())
    }

    async fn detach_group_policy(
        &self,
        policy: &PolicyName,
        group: &ThingGroupName,
    ) -> Result<(), PortError> {
        let request = self
            .client
            .detach_policy()
            .policy_name(policy.as_str())
            .target(self.thing_group_arn(group));
        self.calls
            .send("DetachPolicy", || request.send())
            .await
            .done_on(NOT_FOUND)
    }

    async fn thing_memberships(&self, thing: &ThingName) -> Result<Vec<GroupRef>, PortError> {
        let mut memberships = Vec::new();
        for name in self.group_names_of(thing).await? {
            if let Some(group) = self.thing_group(&name).await? {
                memberships.push(group.membership());
            }
        }
        Ok(memberships)
    }

    async fn thing_group_names(
        &self,
        thing: &ThingName,
    ) -> Result<BTreeSet<ThingGroupName>, PortError> {
        Ok(self.group_names_of(thing).await?.into_iter().collect())
    }

    async fn add_to_group(
        &self,
        thing: &ThingName,
        group: &ThingGroupName,
    ) -> Result<(), PortError> {
        let request = self
            .client
            .add_thing_to_thing_group()
            .thing_name(thing.as_str())
            .thing_group_name(group.as_str());
        self.calls
            .send("AddThingToThingGroup", || request.send())
            .await?;
        Ok(())
    }

    async fn remove_from_group(
        &self,
        thing: &ThingName,
        group: &ThingGroupName,
    ) -> Result<(), PortError> {
        let request = self
            .client
            .remove_thing_from_thing_group()
            .thing_name(thing.as_str())
            .thing_group_name(group.as_str());
        self.calls
            .send("RemoveThingFromThingGroup", || request.send())
            .await
            .done_on(NOT_FOUND)
    }
}
