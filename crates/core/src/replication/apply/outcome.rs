//! What applying a message reports: its outcome, each change made in DR, and why it could
//! not be applied.

use crate::certificate::{CertificateId, CertificateStatus};
use crate::port::PortError;

/// What applying one message did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// DR now matches the message.
    Applied {
        /// Each change made, in order; empty when DR already matched.
        changes: Vec<Change>,
    },
    /// DR already applied this version or a newer one; nothing was touched.
    Stale,
}

/// One change made in DR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A certificate registered with this status.
    Registered(CertificateStatus),
    /// Registered without a CA (RegisterCertificateWithoutCA): devices must send SNI to
    /// connect with it in DR. Names primary's CA when DR lacks it (register it in DR).
    RegisteredWithoutCa {
        /// Primary's CA for this certificate that DR does not have, if any.
        missing_ca: Option<CertificateId>,
    },
    /// A certificate's status set.
    Status(CertificateStatus),
    /// A primary status other than REVOKED was overruled because the certificate was revoked.
    KeptRevoked,
    /// A certificate deleted.
    DeletedCertificate,
    /// A policy ensured or updated.
    Policy(String),
    /// A policy attached.
    AttachedPolicy(String),
    /// A policy detached.
    DetachedPolicy(String),
    /// A thing ensured or updated.
    Thing(String),
    /// A thing attached.
    AttachedThing(String),
    /// A thing detached.
    DetachedThing(String),
    /// A thing attached again with the record's association (`thing -> ASSOCIATION`): DR
    /// had it attached the other way.
    RetypedThing(String),
    /// A thing deleted.
    DeletedThing(String),
    /// A thing not recreated: DR applied its deletion after this message was read.
    SkippedDeletedThing(String),
    /// A thing group created or its properties set.
    ThingGroup(String),
    /// A thing group deleted and created again: DR had it under another parent or of
    /// another kind (AWS fixes both at creation), so primary must have recreated it.
    RecreatedThingGroup(String),
    /// A thing group deleted.
    DeletedThingGroup(String),
    /// A thing group not recreated: DR applied its deletion after this message was read.
    SkippedDeletedThingGroup(String),
    /// A policy attached to a thing group.
    AttachedGroupPolicy(String),
    /// A policy detached from a thing group.
    DetachedGroupPolicy(String),
    /// A thing added to a thing group.
    AddedToGroup(String),
    /// A thing removed from a thing group.
    RemovedFromGroup(String),
    /// A role alias created or updated, with the role it now stands for in DR.
    RoleAlias(String),
    /// A role alias deleted.
    DeletedRoleAlias(String),
    /// A provisioning template created or brought to primary's, with DR's role.
    ProvisioningTemplate(String),
    /// A provisioning template deleted.
    DeletedProvisioningTemplate(String),
    /// A thing type created or brought to primary's properties.
    ThingType(String),
    /// A thing type primary deleted, deprecated in DR.
    DeprecatedThingType(String),
    /// A CA certificate's status and auto-registration set as primary's.
    CaCertificate(String),
    /// A CA certificate primary has and DR does not: nothing to set (its operators register
    /// it in DR; readiness names it).
    CaMissingInDr(CertificateId),
    /// A shadow brought to primary's update (leaves DR wrote later kept).
    Shadow(String),
    /// A shadow update DR already held, or whose every leaf DR rewrote later: nothing sent.
    ShadowUnchanged(String),
    /// A shadow deleted.
    DeletedShadow(String),
    /// A shadow primary deleted, kept: DR wrote it well after the deletion (after a failover).
    KeptShadow(String),
}

/// Why a message could not be applied. The message stays on the queue (retried, then
/// dead-lettered); nothing was recorded as applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    /// A DR call failed.
    #[error("applying in DR failed: {0}")]
    Registry(#[source] PortError),
    /// The ledger could not be read or written.
    #[error("applied-version ledger failed: {0}")]
    Ledger(#[source] PortError),
    /// The message passed decoding but cannot be applied (e.g. a policy ARN rewrite failed).
    #[error("cannot apply: {0}")]
    Invalid(String),
}

impl ApplyError {
    /// Whether a retry may succeed (throttling, timeouts, 5xx).
    pub fn retryable(&self) -> bool {
        match self {
            ApplyError::Registry(e) | ApplyError::Ledger(e) => e.retryable,
            ApplyError::Invalid(_) => false,
        }
    }
}
