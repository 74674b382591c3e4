//! The narrow interfaces flow A needs from the outside world, in the domain's words.
//! `dr-aws` implements them on the IoT, DynamoDB and SNS clients; the tests on fakes.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;

use crate::certificate::{CertificateId, CertificatePem, CertificateStatus};
use crate::ids::{PolicyName, RoleAliasName, TemplateName, ThingGroupName, ThingName};
use crate::port::PortError;
use crate::replication::message::{ReplicationMessage, Version};
use crate::replication::records::{
    CaCertificateRecord, GroupRef, PolicyRecord, RoleAliasRecord, ThingAssociation,
    ThingGroupRecord, ThingRecord, ThingTypeRecord,
};
use crate::replication::shadow::ShadowDocument;
use crate::replication::template::ProvisioningTemplateRecord;
use crate::time::EpochMillis;

/// What a registry knows of a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateView {
    /// The PEM.
    pub pem: String,
    /// The status.
    pub status: CertificateStatus,
    /// The CA it was registered with, if any.
    pub ca_certificate_id: Option<CertificateId>,
    /// lastModifiedDate.
    pub last_modified_ms: EpochMillis,
}

/// Whether a registration created the certificate or found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registration {
    /// Registered now, with the requested status.
    New,
    /// Already registered; its status is whatever it was.
    AlreadyExisted,
}

/// An AWS IoT registry: primary's (read by capture) or DR's (written by the replicator).
/// "Already exists" and "not found" on idempotent writes are success, not errors.
pub trait CertificateRegistry {
    /// A certificate, or `None` if the registry has none with this id.
    fn certificate(
        &self,
        id: &CertificateId,
    ) -> impl Future<Output = Result<Option<CertificateView>, PortError>> + Send;
    /// A CA certificate's PEM, or `None` if it is not registered here.
    fn ca_certificate_pem(
        &self,
        ca_id: &CertificateId,
    ) -> impl Future<Output = Result<Option<String>, PortError>> + Send;
    /// A CA certificate's status and auto-registration, or `None` if it is not registered
    /// here.
    fn ca_certificate(
        &self,
        ca_id: &CertificateId,
    ) -> impl Future<Output = Result<Option<CaCertificateRecord>, PortError>> + Send;
    /// Set a registered CA certificate's status and auto-registration (UpdateCACertificate);
    /// `Ok(false)` when it is not registered here.
    fn set_ca_certificate(
        &self,
        ca: &CaCertificateRecord,
    ) -> impl Future<Output = Result<bool, PortError>> + Send;
    /// Register a certificate with the given status, against `ca_pem` when given.
    fn register_certificate(
        &self,
        pem: &CertificatePem,
        ca_pem: Option<&str>,
        status: CertificateStatus,
    ) -> impl Future<Output = Result<Registration, PortError>> + Send;
    /// Set a certificate's status (ACTIVE, INACTIVE or REVOKED).
    fn set_status(
        &self,
        id: &CertificateId,
        status: CertificateStatus,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
    /// Delete a certificate (already detached and not ACTIVE); missing is success.
    fn delete_certificate(
        &self,
        id: &CertificateId,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
    /// The policies attached to a certificate, with their default documents.
    fn certificate_policies(
        &self,
        id: &CertificateId,
    ) -> impl Future<Output = Result<Vec<PolicyRecord>, PortError>> + Send;
    /// The names of the policies attached to a certificate (cheaper: no documents).
    fn certificate_policy_names(
        &self,
        id: &CertificateId,
    ) -> impl Future<Output = Result<BTreeSet<PolicyName>, PortError>> + Send;
    /// A policy and its default version's document, or `None`.
    fn policy(
        &self,
        name: &PolicyName,
    ) -> impl Future<Output = Result<Option<PolicyRecord>, PortError>> + Send;
    /// Create the policy with this document if it does not exist; leave an existing one.
    fn ensure_policy(
        &self,
        policy: &PolicyRecord,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
    /// Make this document the policy's default version, creating the policy if needed.
    fn put_policy(
        &self,
        policy: &PolicyRecord,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
    /// Attach a policy to a certificate (idempotent).
    fn attach_policy(
        &self,
        name: &PolicyName,
        id: &CertificateId,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
    /// Detach a policy from a certificate (idempotent).
    fn detach_policy(
        &self,
        name: &PolicyName,
        id: &CertificateId,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
    /// A thing, or `None`.
    fn thing(
        &self,
        name: &ThingName,
    ) -> impl Future<Output = Result<Option<ThingRecord>, PortError>> + Send;
    /// Create the thing with these attributes if it does not exist; leave an existing one.
    fn ensure_thing(
        &self,
        thing: &ThingRecord,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
    /// Create the thing or replace its type and attributes with these.
    fn put_thing(&self, thing: &ThingRecord) -> impl Future<Output = Result<(), PortError>> + Send;
    /// Delete a thing (already detached); missing is success.
    fn delete_thing(&self, name: &ThingName) -> impl Future<Output = Result<(), PortError>> + Send;
    /// The things a certificate is attached to, each with how (none for a certificate the
    /// registry lacks).
    fn certificate_thing_associations(
        &self,
        id: &CertificateId,
    ) -> impl Future<Output = Result<BTreeMap<ThingName, ThingAssociation>, PortError>> + Send;
    /// The things a certificate is attached to, however attached.
    fn certificate_things(
        &self,
        id: &CertificateId,
    ) -> impl Future<Output = Result<BTreeSet<ThingName>, PortError>> + Send
    where
        Self: Sync,
    {
        async move {
            Ok(self
                .certificate_thing_associations(id)
                .await?
                .into_keys()
                .collect())
        }
    }
    /// The certificates attached to a thing.
    fn thing_certificates(
        &self,
        name: &ThingName,
    ) -> impl Future<Output = Result<Vec<CertificateId>, PortError>> + Send;
    /// Attach a certificate to a thing, `association` as given (idempotent). An exclusive
    /// attach is refused while the certificate has another thing, and any attach while the
    /// certificate is exclusively another thing's.
    fn attach_thing(
        &self,
        name: &ThingName,
        id: &CertificateId,
        association: ThingAssociation,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
    /// Detach a certificate from a thing (idempotent).
    fn detach_thing(
        &self,
        name: &ThingName,
        id: &CertificateId,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
}

/// Whether DR's group could be brought to a record's properties.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupWrite {
    /// Created, or its properties set.
    Done,
    /// It exists with another parent, or is dynamic where the record is static (or the
    /// reverse): AWS changes neither after creation, so only delete-and-create fixes it.
    Misplaced,
}

/// The thing types of an AWS IoT registry.
pub trait ThingTypeRegistry {
    /// A thing type with its properties, or `None`.
    fn thing_type(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<ThingTypeRecord>, PortError>> + Send;
    /// Create the type with these properties, or bring an existing one to them (its
    /// properties, and its deprecation either way).
    fn put_thing_type(
        &self,
        thing_type: &ThingTypeRecord,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
}

/// The thing-group side of an AWS IoT registry. Like [`CertificateRegistry`], "already
/// exists" and "not found" on idempotent writes are success.
pub trait ThingGroupRegistry {
    /// A group's properties, ancestors and query, without its policies; `None` if absent.
    fn thing_group(
        &self,
        name: &ThingGroupName,
    ) -> impl Future<Output = Result<Option<ThingGroupRecord>, PortError>> + Send;
    /// The policies attached to a group, with their default documents.
    fn thing_group_policies(
        &self,
        name: &ThingGroupName,
    ) -> impl Future<Output = Result<Vec<PolicyRecord>, PortError>> + Send;
    /// The names of the policies attached to a group (no documents).
    fn thing_group_policy_names(
        &self,
        name: &ThingGroupName,
    ) -> impl Future<Output = Result<BTreeSet<PolicyName>, PortError>> + Send;
    /// Create a static group under `parent` if it does not exist; leave an existing one.
    fn ensure_thing_group(
        &self,
        name: &ThingGroupName,
        parent: Option<&ThingGroupName>,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
    /// Create the group as the record has it, or set an existing one's description,
    /// attributes (the whole set) and query. The record's policies are not touched.
    fn put_thing_group(
        &self,
        group: &ThingGroupRecord,
    ) -> impl Future<Output = Result<GroupWrite, PortError>> + Send;
    /// Delete a group (static or dynamic); missing is success.
    fn delete_thing_group(
        &self,
        name: &ThingGroupName,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
    /// Attach a policy to a group (idempotent).
    fn attach_group_policy(
        &self,
        policy: &PolicyName,
        group: &ThingGroupName,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
    /// Detach a policy from a group (idempotent).
    fn detach_group_policy(
        &self,
        policy: &PolicyName,
        group: &ThingGroupName,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
    /// The groups a thing belongs to, each with its ancestors and kind.
    fn thing_memberships(
        &self,
        thing: &ThingName,
    ) -> impl Future<Output = Result<Vec<GroupRef>, PortError>> + Send;
    /// The names of the groups a thing belongs to (no ancestry: cheaper).
    fn thing_group_names(
        &self,
        thing: &ThingName,
    ) -> impl Future<Output = Result<BTreeSet<ThingGroupName>, PortError>> + Send;
    /// Add a thing to a static group (idempotent).
    fn add_to_group(
        &self,
        thing: &ThingName,
        group: &ThingGroupName,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
    /// Remove a thing from a static group (idempotent).
    fn remove_from_group(
        &self,
        thing: &ThingName,
        group: &ThingGroupName,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
}

/// The role aliases of an AWS IoT registry (its credential provider).
pub trait RoleAliasRegistry {
    /// A role alias, or `None`.
    fn role_alias(
        &self,
        name: &RoleAliasName,
    ) -> impl Future<Output = Result<Option<RoleAliasRecord>, PortError>> + Send;
    /// Create the alias or set its role and duration to these.
    fn put_role_alias(
        &self,
        alias: &RoleAliasRecord,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
    /// Delete a role alias; missing is success.
    fn delete_role_alias(
        &self,
        name: &RoleAliasName,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
}

/// The fleet-provisioning templates of an AWS IoT registry.
pub trait ProvisioningTemplateRegistry {
    /// A template with its default version's body (`policies` left empty), or `None`.
    fn provisioning_template(
        &self,
        name: &TemplateName,
    ) -> impl Future<Output = Result<Option<ProvisioningTemplateRecord>, PortError>> + Send;
    /// Create the template, or bring it to this one: a new default version when the body
    /// differs, its settings when they do (recreated when its type differs, which AWS fixes
    /// at creation).
    fn put_provisioning_template(
        &self,
        template: &ProvisioningTemplateRecord,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
    /// Delete a template and its versions; missing is success.
    fn delete_provisioning_template(
        &self,
        name: &TemplateName,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
}

/// Device shadows, on the IoT data plane of one account and region.
pub trait ShadowStore {
    /// A shadow's document (state, metadata, version, timestamp), or `None`.
    fn shadow(
        &self,
        thing: &ThingName,
        name: Option<&str>,
    ) -> impl Future<Output = Result<Option<ShadowDocument>, PortError>> + Send;
    /// Send an update (`{"state": {...}}`; nulls delete leaves).
    fn update_shadow(
        &self,
        thing: &ThingName,
        name: Option<&str>,
        update: &serde_json::Value,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
    /// The names of a thing's named shadows (the classic one is not among them); none for
    /// a thing the registry lacks.
    fn shadow_names(
        &self,
        thing: &ThingName,
    ) -> impl Future<Output = Result<Vec<String>, PortError>> + Send;
    /// Delete a shadow; missing is success.
    fn delete_shadow(
        &self,
        thing: &ThingName,
        name: Option<&str>,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
}

/// Everything replication reads in primary and writes in DR: one registry, six faces.
pub trait DeviceRegistry:
    CertificateRegistry
    + ThingTypeRegistry
    + ThingGroupRegistry
    + RoleAliasRegistry
    + ProvisioningTemplateRegistry
    + ShadowStore
{
}

impl<T> DeviceRegistry for T where
    T: CertificateRegistry
        + ThingTypeRegistry
        + ThingGroupRegistry
        + RoleAliasRegistry
        + ProvisioningTemplateRegistry
        + ShadowStore
{
}

/// What DR has applied for one subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    /// The newest version applied.
    pub version: Version,
    /// Ever seen REVOKED: sticky, so a revoked certificate never comes back.
    pub revoked: bool,
    /// The newest version is a deletion (a tombstone): an older message about another
    /// subject must not bring this one back.
    pub deleted: bool,
    /// For a shadow: the source's state DR last applied, the base of the next merge
    /// ([`Base`](crate::replication::shadow::Base)); `None` for other subjects and after a
    /// deletion.
    pub shadow_base: Option<crate::replication::shadow::ShadowState>,
}

/// Whether a ledger write went through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// The entry now holds our version.
    Recorded,
    /// A newer version was recorded first; ours was dropped.
    NewerExists,
}

/// The applied-version ledger in DR (DynamoDB with conditional writes in the cloud).
pub trait ApplyLedger {
    /// The entry of a subject key, if any.
    fn entry(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<Option<LedgerEntry>, PortError>> + Send;
    /// Record `entry` only if the stored version is older (or absent). `revoked` is
    /// or-ed into the stored flag, never cleared.
    fn record(
        &self,
        key: &str,
        entry: LedgerEntry,
    ) -> impl Future<Output = Result<Recorded, PortError>> + Send;
}

/// The DR-owned topic capture publishes to.
pub trait ReplicationBus {
    /// Publish one message in its subject's ordered group.
    fn publish(
        &self,
        message: &ReplicationMessage,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
}
