//! [`ThingTypeRegistry`] on the IoT client: thing types with their properties (description,
//! searchable attributes, MQTT 5 propagating attributes) and their deprecation.

use aws_sdk_iot::types::{
    Mqtt5Configuration, PropagatingAttribute as SdkAttribute, ThingTypeProperties,
};
use dr_core::port::PortError;
use dr_core::replication::records::{PropagatingAttribute, ThingTypeRecord};
use dr_core::replication::ThingTypeRegistry;

use super::{IotRegistry, ALREADY_EXISTS, NOT_FOUND};
use crate::call::Tolerate;

/// The SDK's properties for a record.
fn properties(thing_type: &ThingTypeRecord) -> ThingTypeProperties {
    let attributes = thing_type
        .propagating_attributes
        .iter()
        .map(|a| {
            SdkAttribute::builder()
                .user_property_key(&a.user_property_key)
                .set_thing_attribute(a.thing_attribute.clone())
                .set_connection_attribute(a.connection_attribute.clone())
                .build()
        })
        .collect::<Vec<_>>();
    ThingTypeProperties::builder()
        .set_thing_type_description(thing_type.description.clone())
        .set_searchable_attributes(Some(thing_type.searchable_attributes.clone()))
        .mqtt5_configuration(
            Mqtt5Configuration::builder()
                .set_propagating_attributes(Some(attributes))
                .build(),
        )
        .build()
}

impl IotRegistry {
    async fn deprecate_thing_type(&self, name: &str, deprecated: bool) -> Result<(), PortError> {
        let request = self
            .client
            .deprecate_thing_type()
            .thing_type_name(name)
            .undo_deprecate(!deprecated);
        self.calls
            .send("DeprecateThingType", || request.send())
            .await?;
        Ok(())
    }
}

impl ThingTypeRegistry for IotRegistry {
    async fn thing_type(&self, name: &str) -> Result<Option<ThingTypeRecord>, PortError> {
        let request = self.client.describe_thing_type().thing_type_name(name);
        let Some(output) = self
            .calls
            .send("DescribeThingType", || request.send())
            .await
            .none_on(NOT_FOUND)?
        else {
            return Ok(None);
        };
        let described = output.thing_type_properties();
        let mut propagating_attributes: Vec<PropagatingAttribute> = described
            .and_then(|p| p.mqtt5_configuration())
            .map(|c| c.propagating_attributes())
            .unwrap_or_default()
            .iter()
            .map(|a| PropagatingAttribute {
                user_property_key: a.user_property_key().unwrap_or_default().to_owned(),
                thing_attribute: a.thing_attribute().map(str::to_owned),
                connection_attribute: a.connection_attribute().map(str::to_owned),
            })
            .collect();
        propagating_attributes.sort();
        let mut searchable_attributes = described
            .map(|p| p.searchable_attributes().to_vec())
            .unwrap_or_default();
        searchable_attributes.sort();
        Ok(Some(ThingTypeRecord {
            thing_type_name: name.to_owned(),
            description: described
                .and_then(|p| p.thing_type_description())
                .map(str::to_owned),
            searchable_attributes,
            propagating_attributes,
            deprecated: output.thing_type_metadata().is_some_and(|m| m.deprecated()),
        }))
    }

    /// Read first: in the steady state (a thing's message carries its unchanged type) that
    /// is the only call.
    async fn put_thing_type(&self, thing_type: &ThingTypeRecord) -> Result<(), PortError> {
        let name = thing_type.thing_type_name.as_str();
        let existing = match self.thing_type(name).await? {
            Some(existing) => existing,
            None => {
                let create = self
                    .client
                    .create_thing_type()
                    .thing_type_name(name)
                    .thing_type_properties(properties(thing_type));
                let created = self
                    .calls
                    .send("CreateThingType", || create.send())
                    .await
                    .none_on(ALREADY_EXISTS)?
                    .is_some();
                if created {
                    if thing_type.deprecated {
                        self.deprecate_thing_type(name, true).await?;
                    }
                    return Ok(());
                }
                // Created meanwhile (another replicator's thing message): bring that one.
                self.thing_type(name).await?.ok_or_else(|| {
                    PortError::transient(
                        "DescribeThingType",
                        format!("thing type {name} exists and then does not; trying again"),
                    )
                })?
            }
        };
        let same_properties = ThingTypeRecord {
            deprecated: thing_type.deprecated,
            ..existing.clone()
        } == *thing_type;
        if !same_properties {
            let update = self
                .client
                .update_thing_type()
                .thing_type_name(name)
                .thing_type_properties(properties(thing_type));
            self.calls.send("UpdateThingType", || update.send()).await?;
        }
        if existing.deprecated != thing_type.deprecated {
            self.deprecate_thing_type(name, thing_type.deprecated)
                .await?;
        }
        Ok(())
    }
}
