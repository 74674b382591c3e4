//! [`ShadowStore`] on the IoT data plane (classic and named shadows).
//!
//! Documents travel as JSON blobs; the shadow service answers a missing shadow with
//! ResourceNotFoundException. An update for a thing DR's registry does not have yet is
//! retried: its thing message is in another FIFO group and arrives on its own time.

use aws_sdk_iotdataplane::primitives::Blob;
use dr_core::ids::ThingName;
use dr_core::port::PortError;
use dr_core::replication::shadow::ShadowDocument;
use dr_core::replication::ShadowStore;

use super::{IotRegistry, NOT_FOUND};
use crate::call::Tolerate;

impl IotRegistry {
    fn data_plane(&self, operation: &str) -> Result<&aws_sdk_iotdataplane::Client, PortError> {
        self.data.as_ref().ok_or_else(|| {
            PortError::permanent(
                operation,
                "this registry was built without an IoT data-plane client (IotRegistry::for_side builds one)",
            )
        })
    }
}

impl ShadowStore for IotRegistry {
    async fn shadow(
        &self,
        thing: &ThingName,
        name: Option<&str>,
    ) -> Result<Option<ShadowDocument>, PortError> {
        let request = self
            .data_plane("GetThingShadow")?
            .get_thing_shadow()
            .thing_name(thing.as_str())
            .set_shadow_name(name.map(str::to_owned));
        let Some(output) = self
            .calls
            .send("GetThingShadow", || request.send())
            .await
            .none_on(NOT_FOUND)?
        else {
            return Ok(None);
        };
        let payload = output.payload().map(Blob::as_ref).unwrap_or_default();
        serde_json::from_slice(payload).map(Some).map_err(|e| {
            PortError::permanent(
                "GetThingShadow",
                format!("shadow of {thing} is not a shadow document: {e}"),
            )
        })
    }

    async fn update_shadow(
        &self,
        thing: &ThingName,
        name: Option<&str>,
        update: &serde_json::Value,
    ) -> Result<(), PortError> {
        let request = self
            .data_plane("UpdateThingShadow")?
            .update_thing_shadow()
            .thing_name(thing.as_str())
            .set_shadow_name(name.map(str::to_owned))
            .payload(Blob::new(update.to_string()));
        let updated = self
            .calls
            .send("UpdateThingShadow", || request.send())
            .await
            .none_on(NOT_FOUND)?;
        if updated.is_none() {
            return Err(PortError::transient(
                "UpdateThingShadow",
                format!("thing {thing} is not in DR's registry yet; retrying once its thing message lands"),
            ));
        }
        Ok(())
    }

    async fn shadow_names(&self, thing: &ThingName) -> Result<Vec<String>, PortError> {
        let data = self.data_plane("ListNamedShadowsForThing")?;
        // A thing that is gone has no shadows.
        Ok(self
            .calls
            .pages(
                "ListNamedShadowsForThing",
                |token| {
                    data.list_named_shadows_for_thing()
                        .thing_name(thing.as_str())
                        .page_size(100)
                        .set_next_token(token)
                        .send()
                },
                |page| (page.results.unwrap_or_default(), page.next_token),
            )
            .await
            .none_on(NOT_FOUND)?
            .unwrap_or_default())
    }

    async fn delete_shadow(&self, thing: &ThingName, name: Option<&str>) -> Result<(), PortError> {
        let request = self
            .data_plane("DeleteThingShadow")?
            .delete_thing_shadow()
            .thing_name(thing.as_str())
            .set_shadow_name(name.map(str::to_owned));
        self.calls
            .send("DeleteThingShadow", || request.send())
            .await
            .done_on(NOT_FOUND)
    }
}
