//! A local stand-in for primary's IoT data endpoint (`dr_sandbox::iot_endpoint`) in a
//! temporary directory of its own: TLS with a throwaway CA for [`SERVER_NAME`], CONNACK
//! for MQTT, 200 for HTTP. Stopping it is the outage the health checker must notice.

use std::ops::{Deref, DerefMut};

use dr_sandbox::iot_endpoint::LocalIotEndpoint;
pub(crate) use dr_sandbox::iot_endpoint::SERVER_NAME;

pub(crate) struct PrimaryEndpoint {
    endpoint: LocalIotEndpoint,
    _dir: tempfile::TempDir,
}

impl PrimaryEndpoint {
    pub(crate) async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let endpoint = LocalIotEndpoint::start(dir.path(), 0, None).await.unwrap();
        Self {
            endpoint,
            _dir: dir,
        }
    }

    /// Listen again, on the same port, as a recovered primary would.
    pub(crate) async fn resume(&mut self) {
        self.endpoint.resume().await.unwrap();
    }
}

impl Deref for PrimaryEndpoint {
    type Target = LocalIotEndpoint;
    fn deref(&self) -> &LocalIotEndpoint {
        &self.endpoint
    }
}

impl DerefMut for PrimaryEndpoint {
    fn deref_mut(&mut self) -> &mut LocalIotEndpoint {
        &mut self.endpoint
    }
}
