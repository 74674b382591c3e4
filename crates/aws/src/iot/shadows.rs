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

use super::IotRegistry;
use crate::error::{code, port_error};

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
        let data = self.data_plane("GetThingShadow")?;
        self.call().await;
        let output = match data
            .get_thing_shadow()
            .thing_name(thing.as_str())
            .set_shadow_name(name.map(str::to_owned))
            .send()
            .await
        {
            Ok(output) => output,
            Err(e) if code(&e) == Some("ResourceNotFoundException") => return Ok(None),
            Err(e) => return Err(port_error("GetThingShadow", e)),
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
        let data = self.data_plane("UpdateThingShadow")?;
        self.call().await;
        match data
            .update_thing_shadow()
            .thing_name(thing.as_str())
            .set_shadow_name(name.map(str::to_owned))
            .payload(Blob::new(update.to_string()))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if code(&e) == Some("ResourceNotFoundException") => Err(PortError::transient(
                "UpdateThingShadow",
                format!("thing {thing} is not in DR's registry yet; retrying once its thing message lands"),
            )),
            Err(e) => Err(port_error("UpdateThingShadow", e)),
        }
    }

    async fn shadow_names(&self, thing: &ThingName) -> Result<Vec<String>, PortError> {
        let data = self.data_plane("ListNamedShadowsForThing")?;
        let mut names = Vec::new();
        let mut token = None;
        loop {
            self.call().await;
            let page = match data
                .list_named_shadows_for_thing()
                .thing_name(thing.as_str())
                .page_size(100)
                .set_next_token(token)
                .send()
                .await
            {
                Ok(page) => page,
                Err(e) if code(&e) == Some("ResourceNotFoundException") => return Ok(names),
                Err(e) => return Err(port_error("ListNamedShadowsForThing", e)),
            };
            names.extend(page.results().iter().cloned());
            token = page.next_token().map(str::to_owned);
            if token.is_none() {
                return Ok(names);
            }
        }
    }

    async fn delete_shadow(&self, thing: &ThingName, name: Option<&str>) -> Result<(), PortError> {
        let data = self.data_plane("DeleteThingShadow")?;
        self.call().await;
        match data
            .delete_thing_shadow()
            .thing_name(thing.as_str())
            .set_shadow_name(name.map(str::to_owned))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if code(&e) == Some("ResourceNotFoundException") => Ok(()),
            Err(e) => Err(port_error("DeleteThingShadow", e)),
        }
    }
}
