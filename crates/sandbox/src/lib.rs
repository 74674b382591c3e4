//! The local two-account AWS world used by tests, the demo and `drctl-sandbox`.
//!
//! * [`launcher`] — the moto server on loopback: start, health, stop, reset.
//! * [`provision`] — the resources every flow needs, in both accounts, idempotently.
//! * [`local_lambda`] — the real Lambda binaries behind cargo-lambda's Runtime API
//!   emulator, and Lambda's SQS event source mapping.
//! * [`events`], [`devices`], [`fleet`] — a simulated fleet in primary: the events AWS
//!   would emit, devices with their certificates, replication through the real binaries.
//! * [`iot_endpoint`] — a local stand-in for an IoT data endpoint (the health checker's
//!   outage, the drill's canary).
//! * [`outage`] — a primary outage, watched by the real health-checker binary.
//! * [`shadow_device`] — a wearable obeying its shadow, by the Embedded C SDK's default
//!   version rule or by the device contract's (the one that obeys DR after a failover).
//! * [`fault_proxy`] — regional outages, throttling, 5xx, latency, dropped connections
//!   and quotas between the code under test and the sandbox, and the IAM it enforces.
//! * [`iam`] — the CDK app's roles and policies, evaluated on every call.
//! * [`identity`] — who a process is: a Lambda's roles, the operator, the administrator.
//! * [`aws_request`] — a request as AWS routes it: service, region, caller, operation.

pub mod aws_request;
pub mod devices;
pub mod events;
pub mod fault_proxy;
pub mod fleet;
pub mod iam;
pub mod identity;
pub mod iot_endpoint;
pub mod iot_policy;
pub mod launcher;
pub mod local_lambda;
pub mod outage;
pub mod provision;
pub mod shadow_device;

pub use launcher::{LauncherPaths, SandboxError, SandboxServer};
pub use provision::{provision, register_world, Outcome, ProvisionError, Provisioned};
