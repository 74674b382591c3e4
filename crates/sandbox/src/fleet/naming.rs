//! The names the simulated fleet is set up under: created in primary by the provisioner,
//! looked for in DR by the report, and (the canary) written into the drill's files.

/// The fleet's one policy (its ARNs are primary's; the replicator rewrites them for DR).
pub const FLEET_POLICY: &str = "wearable-telemetry";
/// The canary's thing name and MQTT client id.
pub const CANARY: &str = "dr-canary";
/// The fleet's root thing group; its policy reaches every ward's wearables.
pub const FLEET_ROOT_GROUP: &str = "hospital";
/// The ward group every wearable is in, under [`FLEET_ROOT_GROUP`].
pub const FLEET_WARD_GROUP: &str = "ward-cardiology";
/// The policy attached to [`FLEET_ROOT_GROUP`]: publishing alerts.
pub const GROUP_POLICY: &str = "ward-alerts";
/// The role alias wearables fetch upload credentials through.
pub const ROLE_ALIAS: &str = "wearable-uploads";
/// The role [`PROVISIONING_TEMPLATE`] registers devices with (IoT assumes it).
pub(super) const PROVISIONING_ROLE: &str = "iot-provisioning";
/// The fleet-provisioning template new wearables enrol with (claim certificate, then
/// `RegisterThing`): a thing in [`FLEET_WARD_GROUP`], its certificate, [`FLEET_POLICY`].
pub const PROVISIONING_TEMPLATE: &str = "wearable-enrolment";
