//! The records a replication message carries: a resource's state as primary has it,
//! before DR's ARNs are written into it. The envelope around them, its checks and its
//! ordering are in [`message`](super::message).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::certificate::{CertificateId, CertificateStatus};
use crate::ids::{PolicyName, RoleAliasName, ThingGroupName, ThingName};
use crate::time::EpochMillis;

/// A shadow update: what the shadow was and became in primary (`…/update/documents`). Carried
/// whole, so capture reads nothing in primary; `previous` is the merge's base only until DR
/// has applied one (the ledger keeps the base after that).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShadowUpdate {
    /// The thing.
    pub thing_name: ThingName,
    /// The named shadow, or `None` for the classic one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shadow_name: Option<String>,
    /// The document before the update (`None` when the update created the shadow).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<crate::replication::shadow::ShadowDocument>,
    /// The document after it; its `timestamp` is the update's.
    pub current: crate::replication::shadow::ShadowDocument,
}

/// A role alias: what devices name to get temporary AWS credentials for an IAM role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleAliasRecord {
    /// Its name (devices ask the credential provider for it).
    pub role_alias: RoleAliasName,
    /// The IAM role it stands for, as primary has it (DR maps it to DR's account).
    pub role_arn: String,
    /// How long the credentials last, 900–43,200 s.
    pub credential_duration_seconds: u32,
}

/// A certificate as primary has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateRecord {
    /// SHA-256 of the DER; DR checks the PEM hashes to it.
    pub certificate_id: CertificateId,
    /// The public certificate. Never a private key.
    pub certificate_pem: String,
    /// Primary's status.
    pub status: CertificateStatus,
    /// Primary's lastModifiedDate.
    pub last_modified_ms: EpochMillis,
    /// The signing CA, when the certificate was registered with one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<CaRecord>,
    /// Things this certificate is attached to.
    #[serde(default)]
    pub things: Vec<ThingRecord>,
    /// Policies attached to this certificate, with their default documents.
    #[serde(default)]
    pub policies: Vec<PolicyRecord>,
}

/// The CA that signed a certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaRecord {
    /// The CA certificate's id.
    pub ca_certificate_id: CertificateId,
    /// The CA's PEM, so DR can register the device certificate against it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_certificate_pem: Option<String>,
}

/// A CA certificate's settings as primary has them. The CA itself is registered in each
/// region by its operators (registration proves possession of the CA's key); what travels
/// is whether it is trusted: a CA deactivated in primary (compromised, retired) must stop
/// vouching for devices in DR within the replication lag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaCertificateRecord {
    /// The CA certificate's id (the SHA-256 of its DER: the same in both regions).
    pub ca_certificate_id: CertificateId,
    /// ACTIVE or INACTIVE.
    pub status: CaCertificateStatus,
    /// Whether devices' certificates it signed register themselves on first connection
    /// (just-in-time registration).
    pub auto_registration: bool,
}

/// A CA certificate's status (AWS's `CACertificateStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CaCertificateStatus {
    /// It vouches for the certificates it signed.
    Active,
    /// It does not: its certificates cannot connect or register.
    Inactive,
}

impl CaCertificateStatus {
    /// The status as AWS spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "ACTIVE",
            Self::Inactive => "INACTIVE",
        }
    }
}

/// A thing type as primary has it. Its properties shape what DR's broker does with a
/// device's messages (MQTT 5 user properties propagated from thing attributes, which the
/// application's rules may read) and what fleet indexing can search; a deprecated type takes
/// no new things.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThingTypeRecord {
    /// Its name (`[a-zA-Z0-9:_-]`, 1–128).
    pub thing_type_name: String,
    /// Its description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Thing attributes searchable by this type (at most three).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub searchable_attributes: Vec<String>,
    /// MQTT 5 user properties the broker adds to a device's messages.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub propagating_attributes: Vec<PropagatingAttribute>,
    /// Deprecated: no new thing may take it.
    #[serde(default)]
    pub deprecated: bool,
}

/// One MQTT 5 user property a thing type adds: from a thing attribute or a connection
/// attribute (AWS's `PropagatingAttribute`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PropagatingAttribute {
    /// The user property's key.
    pub user_property_key: String,
    /// The thing attribute it carries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thing_attribute: Option<String>,
    /// The connection attribute it carries (e.g. `iot:ClientId`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_attribute: Option<String>,
}

/// Whether `name` is a valid thing type name (`[a-zA-Z0-9:_-]`, 1–128 characters).
pub fn valid_thing_type_name(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b":_-".contains(&b))
}

/// A thing as primary has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThingRecord {
    /// Its name.
    pub thing_name: ThingName,
    /// Its thing type, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thing_type: Option<String>,
    /// Its attributes.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// The thing groups it belongs to, read only for thing messages: `None` (certificate
    /// messages) leaves DR's memberships alone, `Some` is the whole set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<GroupRef>>,
    /// How the certificate is attached to it, read only for a certificate's `things`
    /// (absent, as in messages written before it existed: non-exclusive).
    #[serde(default, skip_serializing_if = "ThingAssociation::is_non_exclusive")]
    pub association: ThingAssociation,
}

/// How a certificate is attached to a thing (AWS's `ThingPrincipalType`).
///
/// AWS (AttachThingPrincipal): with EXCLUSIVE_THING "the thing will be the only thing
/// that's attached to the principal". The developer guide (exclusive-thing.html): "If your
/// client ID doesn't match the thing's name in the registry, you can establish this
/// association by attaching an X.509 certificate to your IoT thing, exclusively"; with a
/// non-exclusive association the connection's client id "must exactly match the thing name"
/// for thing policy variables to resolve. A device whose client id is not its thing name
/// therefore reaches its thing (its policy variables, and — inferred, not quoted — its
/// groups' policies) in DR only if DR keeps the association exclusive.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub enum ThingAssociation {
    /// The default: the certificate may be attached to other things too.
    #[default]
    #[serde(rename = "NON_EXCLUSIVE_THING")]
    NonExclusive,
    /// The certificate's only thing, whatever client id the device connects with.
    #[serde(rename = "EXCLUSIVE_THING")]
    Exclusive,
}

impl ThingAssociation {
    /// The association as AWS spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NonExclusive => "NON_EXCLUSIVE_THING",
            Self::Exclusive => "EXCLUSIVE_THING",
        }
    }

    /// The default, left out of messages.
    pub fn is_non_exclusive(&self) -> bool {
        *self == Self::NonExclusive
    }
}

impl std::fmt::Display for ThingAssociation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A thing group a thing belongs to, with what DR needs to create it in the right place
/// if it has not seen the group yet (AWS fixes a group's parent when it is created).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupRef {
    /// The group.
    pub group_name: ThingGroupName,
    /// Its ancestors, root first (AWS's `rootToParentThingGroups`); empty for a root group.
    #[serde(default)]
    pub ancestors: Vec<ThingGroupName>,
    /// A dynamic group: membership follows its query, DR computes it, nothing to add.
    #[serde(default)]
    pub dynamic: bool,
}

/// A thing group as primary has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThingGroupRecord {
    /// Its name.
    pub group_name: ThingGroupName,
    /// Its ancestors, root first; the last is its parent.
    #[serde(default)]
    pub ancestors: Vec<ThingGroupName>,
    /// Its description, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Its attributes.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// Set for a dynamic group: DR recreates it from the same fleet-indexing query.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<DynamicGroupQuery>,
    /// Policies attached to the group, with their default documents (ARNs not yet
    /// rewritten). Devices whose things are in the group, or a group below it, get them.
    #[serde(default)]
    pub policies: Vec<PolicyRecord>,
}

impl ThingGroupRecord {
    /// The group's parent, if it has one.
    pub fn parent(&self) -> Option<&ThingGroupName> {
        self.ancestors.last()
    }

    /// The group as a member would name it.
    pub fn membership(&self) -> GroupRef {
        GroupRef {
            group_name: self.group_name.clone(),
            ancestors: self.ancestors.clone(),
            dynamic: self.query.is_some(),
        }
    }
}

/// A dynamic thing group's fleet-indexing query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DynamicGroupQuery {
    /// The query, e.g. `attributes.ward:7`.
    pub query_string: String,
    /// The index (only `AWS_Things` today).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index_name: Option<String>,
    /// The query language version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_version: Option<String>,
}

/// AWS nests thing groups at most seven levels deep.
pub const MAX_GROUP_DEPTH: usize = 7;

/// AWS lets a thing belong to at most ten thing groups.
pub const MAX_GROUPS_PER_THING: usize = 10;

/// A policy and its default version's document, as primary has it (ARNs not yet rewritten).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyRecord {
    /// Its name.
    pub policy_name: PolicyName,
    /// The JSON policy document.
    pub document: String,
}
