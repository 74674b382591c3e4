//! Flow A, certificate replication: primary → DR-owned SNS FIFO topic → SQS FIFO → DR.
//!
//! * [`capture`] — which subjects a primary event touches, and their state as messages.
//! * [`message`] — the self-contained, versioned state message and its boundary checks.
//! * [`records`] — the resource states a message carries (certificate, thing, group…).
//! * [`apply`] — the idempotent, never-regressing, revoked-wins apply in DR.
//! * [`arn`] — account and region rewriting inside policy documents.
//! * [`service`] — the Lambda use cases: capture-and-publish, apply-a-batch.
//! * [`shadow`] — device shadows: their documents and the merge that never undoes DR's own
//!   newer writes.
//! * [`template`] — fleet-provisioning templates and their mapping to DR's ARNs.
//! * [`ports`] — the registry, ledger and bus interfaces the adapters implement.

pub mod apply;
pub mod arn;
pub mod capture;
pub mod message;
pub mod ports;
pub mod records;
pub mod service;
pub mod shadow;
pub mod template;

#[cfg(test)]
pub(crate) mod fake;
#[cfg(test)]
mod group_tests;
#[cfg(test)]
mod shadow_tests;
#[cfg(test)]
mod tests;

pub use apply::{apply, ApplyError, Change, Outcome};
pub use arn::ArnRewrite;
pub use capture::{capture, parse_event, CaptureEvent, EventError, Trigger};
pub use message::{Lane, Rejection, ReplicationMessage, Subject, Version};
pub use ports::{
    ApplyLedger, CertificateRegistry, DeviceRegistry, GroupWrite, LedgerEntry,
    ProvisioningTemplateRegistry, ReplicationBus, RoleAliasRegistry, ShadowStore,
    ThingGroupRegistry, ThingTypeRegistry,
};
