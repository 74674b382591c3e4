//! The replication message: a self-contained, state-based snapshot of one resource in
//! primary, as the capture Lambda read it.
//!
//! State, not events: each message says what the resource *is* in primary, so applying it
//! twice, late, or after a newer one is harmless (the ledger drops what is older). Each
//! message names one subject — a certificate, a thing or a policy — and travels in the FIFO
//! group of that subject, so messages about one subject arrive in publish order.
//!
//! Ownership rule that keeps subjects independent: a certificate message carries its
//! things and policies in full (it is self-contained: DR can create what is missing), but
//! only *thing* messages change a thing's attributes and group memberships, only *thing
//! group* messages change a group's properties and the policies attached to it, and only
//! *policy* messages change a policy's document. Otherwise an old certificate message could
//! overwrite a newer thing.
//!
//! Long because of its unit tests (~540 lines of code): every boundary check of the
//! message sits beside the rejection it produces; the records it carries are in `records.rs`.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::Digest;

use super::records::{
    valid_thing_type_name, CaCertificateRecord, CaRecord, CertificateRecord, PolicyRecord,
    RoleAliasRecord, ShadowUpdate, ThingGroupRecord, ThingRecord, ThingTypeRecord,
    MAX_GROUPS_PER_THING, MAX_GROUP_DEPTH,
};
use crate::certificate::{contains_private_key, CertificateId, CertificatePem, PemError};
use crate::ids::{AccountId, Region, RoleAliasName, TemplateName, ThingGroupName, ThingName};
use crate::time::EpochMillis;

/// The schema this code writes and accepts.
pub const SCHEMA_VERSION: u32 = 1;

/// SNS and SQS refuse messages over 256 KiB; we refuse them first, with a clearer reason.
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;

/// SNS FIFO and SQS FIFO message group ids are at most 128 characters.
pub const MAX_GROUP_ID_LEN: usize = 128;

/// One replication message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplicationMessage {
    /// [`SCHEMA_VERSION`] when written.
    pub schema_version: u32,
    /// Where the state was read.
    pub source: SourceRef,
    /// What made capture look (an API name, `jitr`, `thing-updated`…), for logs.
    pub cause: String,
    /// When the triggering event happened in primary; replication lag is measured from it.
    pub event_time_ms: EpochMillis,
    /// When capture read the state; orders messages about the same subject.
    pub observed_at_ms: EpochMillis,
    /// The resource and its state.
    pub subject: Subject,
}

/// The account and region the state was read from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceRef {
    /// Primary's account.
    pub account_id: AccountId,
    /// Primary's region.
    pub region: Region,
}

impl SourceRef {
    /// One side of the topology as a message source.
    pub fn of(topology: &crate::Topology, side: crate::Side) -> Self {
        Self {
            account_id: topology.side(side).account_id.clone(),
            region: topology.side(side).region.clone(),
        }
    }
}

/// The resource a message is about, and its state in primary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Subject {
    /// A certificate that exists in primary.
    Certificate(CertificateRecord),
    /// A certificate primary no longer has.
    CertificateDeleted {
        /// Its id.
        certificate_id: CertificateId,
    },
    /// A thing that exists in primary (attributes are authoritative here).
    Thing(ThingRecord),
    /// A thing primary no longer has.
    ThingDeleted {
        /// Its name.
        thing_name: ThingName,
    },
    /// A policy whose default version changed in primary (the document is authoritative).
    Policy(PolicyRecord),
    /// A thing group that exists in primary (properties and attached policies are
    /// authoritative here; its members are carried by their thing messages).
    ThingGroup(ThingGroupRecord),
    /// A thing group primary no longer has.
    ThingGroupDeleted {
        /// Its name.
        group_name: ThingGroupName,
    },
    /// A role alias (devices' credential provider) as primary has it.
    RoleAlias(RoleAliasRecord),
    /// A role alias primary no longer has.
    RoleAliasDeleted {
        /// Its name.
        role_alias: RoleAliasName,
    },
    /// A fleet-provisioning template as primary has it, with the policies it names.
    ProvisioningTemplate(crate::replication::template::ProvisioningTemplateRecord),
    /// A provisioning template primary no longer has.
    ProvisioningTemplateDeleted {
        /// Its name.
        template_name: TemplateName,
    },
    /// A thing type with its properties, as primary has it.
    ThingType(ThingTypeRecord),
    /// A thing type primary no longer has.
    ThingTypeDeleted {
        /// Its name.
        thing_type_name: String,
    },
    /// A CA certificate's status and auto-registration as primary has them.
    CaCertificate(CaCertificateRecord),
    /// A CA certificate primary no longer has.
    CaCertificateDeleted {
        /// Its id.
        ca_certificate_id: CertificateId,
    },
    /// A device shadow update, as primary's shadow service published it.
    Shadow(Box<ShadowUpdate>),
    /// A device shadow primary deleted.
    ShadowDeleted {
        /// Which shadow.
        thing_name: ThingName,
        /// The named shadow, or `None` for the classic one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        shadow_name: Option<String>,
        /// Primary's version of the deleted shadow.
        version: u64,
        /// When primary deleted it, epoch seconds.
        timestamp: i64,
    },
}

/// The order of messages about one subject: newer compares greater.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    /// The source's own modification time (a certificate's lastModifiedDate), or the
    /// observation time for subjects without one.
    pub source_ms: EpochMillis,
    /// When capture read the state: breaks ties, since a later read sees newer state.
    pub observed_ms: EpochMillis,
}

impl Version {
    /// A string whose lexicographic order is the version order, for conditional writes.
    pub fn encode(&self) -> String {
        format!(
            "{:016}.{:016}",
            self.source_ms.max(0),
            self.observed_ms.max(0)
        )
    }

    /// The inverse of [`Version::encode`].
    pub fn decode(text: &str) -> Option<Self> {
        let (source, observed) = text.split_once('.')?;
        Some(Self {
            source_ms: source.parse().ok()?,
            observed_ms: observed.parse().ok()?,
        })
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.source_ms, self.observed_ms)
    }
}

/// Why a message was refused. Refused messages change nothing in DR.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// Over the SNS/SQS size limit.
    #[error("message is {0} bytes, over the {MAX_MESSAGE_BYTES}-byte limit")]
    TooLarge(usize),
    /// Not JSON, or not our schema (unknown kind, missing or extra field, bad value).
    #[error("malformed replication message: {0}")]
    Malformed(String),
    /// A schema this code does not know.
    #[error("unsupported schema_version {0} (this replicator reads {SCHEMA_VERSION}); deploy the newer replicator, then replay the DLQ")]
    UnsupportedSchema(u64),
    /// The PEM is bad, mismatched, or a private key travels with it.
    #[error(transparent)]
    Certificate(#[from] PemError),
}

impl Rejection {
    /// Whether the refused `raw` body must not be kept (in the DLQ, on a screen): it carries
    /// a private key, or it could not be parsed — so JSON escapes (`\u002d`) that would hide
    /// a key from the raw check were never undone — and it holds escapes or the word.
    pub fn may_carry_a_private_key(&self, raw: &str) -> bool {
        match self {
            Self::Certificate(PemError::PrivateKey) => true,
            Self::TooLarge(_) | Self::Malformed(_) => {
                raw.contains("\\u") || raw.to_ascii_uppercase().contains("PRIVATE")
            }
            Self::UnsupportedSchema(_) | Self::Certificate(_) => false,
        }
    }
}

/// Which replication lane a subject travels: each lane is its own SNS FIFO topic and SQS
/// FIFO queue, with its own throughput. Shadows change whenever a device reports (a fleet
/// can publish at the FIFO limit); on their own lane a shadow storm never queues a
/// revocation, or any registry change, behind it. A subject always takes the same lane, so
/// its own order holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Lane {
    /// Certificates (revocations first among them), things, types, groups, policies, role
    /// aliases, templates, CAs.
    Registry,
    /// Device shadows, classic and named.
    Shadows,
}

impl Lane {
    /// Both lanes, registry first.
    pub const ALL: [Lane; 2] = [Lane::Registry, Lane::Shadows];

    /// A short name, for logs and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Lane::Registry => "registry",
            Lane::Shadows => "shadows",
        }
    }
}

impl Subject {
    /// The lane this subject travels.
    pub fn lane(&self) -> Lane {
        match self {
            Subject::Shadow(_) | Subject::ShadowDeleted { .. } => Lane::Shadows,
            _ => Lane::Registry,
        }
    }

    /// The key of the subject: its FIFO message group and its ledger entry.
    pub fn key(&self) -> String {
        match self {
            Subject::Certificate(record) => format!("cert#{}", record.certificate_id),
            Subject::CertificateDeleted { certificate_id } => format!("cert#{certificate_id}"),
            Subject::Thing(record) => format!("thing#{}", record.thing_name),
            Subject::ThingDeleted { thing_name } => format!("thing#{thing_name}"),
            Subject::Policy(record) => format!("policy#{}", record.policy_name),
            Subject::ThingGroup(record) => format!("group#{}", record.group_name),
            Subject::ThingGroupDeleted { group_name } => format!("group#{group_name}"),
            Subject::RoleAlias(record) => format!("rolealias#{}", record.role_alias),
            Subject::RoleAliasDeleted { role_alias } => format!("rolealias#{role_alias}"),
            Subject::ProvisioningTemplate(record) => format!("template#{}", record.template_name),
            Subject::ProvisioningTemplateDeleted { template_name } => {
                format!("template#{template_name}")
            }
            Subject::ThingType(record) => format!("thingtype#{}", record.thing_type_name),
            Subject::ThingTypeDeleted { thing_type_name } => format!("thingtype#{thing_type_name}"),
            Subject::CaCertificate(record) => format!("ca#{}", record.ca_certificate_id),
            Subject::CaCertificateDeleted { ca_certificate_id } => {
                format!("ca#{ca_certificate_id}")
            }
            Subject::Shadow(update) => {
                shadow_key(&update.thing_name, update.shadow_name.as_deref())
            }
            Subject::ShadowDeleted {
                thing_name,
                shadow_name,
                ..
            } => shadow_key(thing_name, shadow_name.as_deref()),
        }
    }

    /// The FIFO message group: the key, or — when the key exceeds SNS's 128-character limit
    /// (a 128-character thing or policy name plus its prefix) — its SHA-256, which keeps one
    /// subject in one group all the same.
    pub fn group_id(&self) -> String {
        let key = self.key();
        if key.len() <= MAX_GROUP_ID_LEN {
            return key;
        }
        let (prefix, _) = key.split_once('#').unwrap_or(("subject", ""));
        format!(
            "{prefix}#sha256:{}",
            hex::encode(sha2::Sha256::digest(key.as_bytes()))
        )
    }

    /// The certificate this message is about, if any (for logs and metrics).
    pub fn certificate_id(&self) -> Option<&CertificateId> {
        match self {
            Subject::Certificate(record) => Some(&record.certificate_id),
            Subject::CertificateDeleted { certificate_id } => Some(certificate_id),
            _ => None,
        }
    }

    /// A short name of the kind, for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Subject::Certificate(_) => "certificate",
            Subject::CertificateDeleted { .. } => "certificate_deleted",
            Subject::Thing(_) => "thing",
            Subject::ThingDeleted { .. } => "thing_deleted",
            Subject::Policy(_) => "policy",
            Subject::ThingGroup(_) => "thing_group",
            Subject::ThingGroupDeleted { .. } => "thing_group_deleted",
            Subject::RoleAlias(_) => "role_alias",
            Subject::RoleAliasDeleted { .. } => "role_alias_deleted",
            Subject::ProvisioningTemplate(_) => "provisioning_template",
            Subject::ProvisioningTemplateDeleted { .. } => "provisioning_template_deleted",
            Subject::ThingType(_) => "thing_type",
            Subject::ThingTypeDeleted { .. } => "thing_type_deleted",
            Subject::CaCertificate(_) => "ca_certificate",
            Subject::CaCertificateDeleted { .. } => "ca_certificate_deleted",
            Subject::Shadow(_) => "shadow",
            Subject::ShadowDeleted { .. } => "shadow_deleted",
        }
    }
}

impl ReplicationMessage {
    /// The message's place in its subject's history.
    pub fn version(&self) -> Version {
        match &self.subject {
            // Primary's shadow service orders a shadow's updates: by second, then by its
            // version within one (seconds are all its timestamps carry).
            Subject::Shadow(update) => Version {
                source_ms: update.current.timestamp.saturating_mul(1000),
                observed_ms: i64::try_from(update.current.version).unwrap_or(i64::MAX),
            },
            Subject::ShadowDeleted {
                version, timestamp, ..
            } => Version {
                source_ms: timestamp.saturating_mul(1000),
                observed_ms: i64::try_from(*version).unwrap_or(i64::MAX),
            },
            Subject::Certificate(record) => Version {
                source_ms: record.last_modified_ms,
                observed_ms: self.observed_at_ms,
            },
            _ => Version {
                source_ms: self.observed_at_ms,
                observed_ms: self.observed_at_ms,
            },
        }
    }

    /// Serialise for publishing, refusing what must never travel.
    pub fn encode(&self) -> Result<String, Rejection> {
        self.check()?;
        let value = serde_json::to_value(self).map_err(|e| Rejection::Malformed(e.to_string()))?;
        if holds_private_key(&value) {
            return Err(PemError::PrivateKey.into());
        }
        let json = value.to_string();
        if json.len() > MAX_MESSAGE_BYTES {
            return Err(Rejection::TooLarge(json.len()));
        }
        Ok(json)
    }

    /// Parse and check a message at the DR boundary. Nothing about a refused message is
    /// trusted or applied.
    pub fn decode(raw: &str) -> Result<Self, Rejection> {
        // The key first: the rejection decides whether the DLQ may keep the body.
        if contains_private_key(raw) {
            return Err(PemError::PrivateKey.into());
        }
        if raw.len() > MAX_MESSAGE_BYTES {
            return Err(Rejection::TooLarge(raw.len()));
        }
        let value: serde_json::Value =
            serde_json::from_str(raw).map_err(|e| Rejection::Malformed(e.to_string()))?;
        // Again on the parsed strings: JSON escapes (`\u002d`) would hide a key from the
        // raw check, and a key may hide in any field, not only the PEM.
        if holds_private_key(&value) {
            return Err(PemError::PrivateKey.into());
        }
        match value
            .get("schema_version")
            .and_then(serde_json::Value::as_u64)
        {
            Some(v) if v == u64::from(SCHEMA_VERSION) => {}
            Some(other) => return Err(Rejection::UnsupportedSchema(other)),
            None => {
                return Err(Rejection::Malformed(
                    "missing or non-numeric field `schema_version`".to_owned(),
                ))
            }
        }
        let message: Self =
            serde_json::from_value(value).map_err(|e| Rejection::Malformed(e.to_string()))?;
        message.check()?;
        Ok(message)
    }

    /// Rules serde cannot express.
    fn check(&self) -> Result<(), Rejection> {
        if self.cause.len() > 128 {
            return Err(Rejection::Malformed(
                "`cause` is longer than 128 characters".to_owned(),
            ));
        }
        match &self.subject {
            Subject::Certificate(record) => {
                CertificatePem::parse_as(&record.certificate_pem, &record.certificate_id)?;
                if let Some(CaRecord {
                    ca_certificate_id,
                    ca_certificate_pem: Some(pem),
                }) = &record.ca
                {
                    CertificatePem::parse_as(pem, ca_certificate_id)?;
                }
                for policy in &record.policies {
                    check_policy_document(policy)?;
                }
                check_associations(record)?;
            }
            Subject::Policy(policy) => check_policy_document(policy)?,
            Subject::Thing(thing) => {
                check_groups(thing)?;
                if !thing.association.is_non_exclusive() {
                    return Err(Rejection::Malformed(format!(
                        "thing {} carries an association; only a certificate's things do",
                        thing.thing_name
                    )));
                }
            }
            Subject::ThingGroup(group) => check_group(group)?,
            Subject::RoleAlias(alias) => check_role_alias(alias)?,
            Subject::ProvisioningTemplate(template) => {
                template.check().map_err(Rejection::Malformed)?;
                for policy in &template.policies {
                    check_policy_document(policy)?;
                }
            }
            Subject::Shadow(update) => {
                let ShadowUpdate {
                    shadow_name,
                    previous,
                    current,
                    ..
                } = &**update;
                for document in previous.iter().chain([current]) {
                    for part in [
                        &document.state.desired,
                        &document.state.reported,
                        &document.metadata.desired,
                        &document.metadata.reported,
                    ] {
                        if part
                            .as_ref()
                            .is_some_and(|v| !v.is_object() && !v.is_null())
                        {
                            return Err(Rejection::Malformed(
                                "a shadow's desired, reported and metadata must be JSON objects"
                                    .to_owned(),
                            ));
                        }
                    }
                }
                check_shadow_name(shadow_name.as_deref())?;
            }
            Subject::ShadowDeleted { shadow_name, .. } => {
                check_shadow_name(shadow_name.as_deref())?;
            }
            Subject::ThingDeleted { .. }
            | Subject::CertificateDeleted { .. }
            | Subject::ThingGroupDeleted { .. }
            | Subject::RoleAliasDeleted { .. }
            | Subject::ProvisioningTemplateDeleted { .. }
            | Subject::CaCertificate(_)
            | Subject::CaCertificateDeleted { .. } => {}
            Subject::ThingType(ThingTypeRecord {
                thing_type_name, ..
            })
            | Subject::ThingTypeDeleted { thing_type_name } => {
                if !valid_thing_type_name(thing_type_name) {
                    return Err(Rejection::Malformed(format!(
                        "{thing_type_name:?} is not a valid thing type name"
                    )));
                }
            }
        }
        Ok(())
    }
}

/// The ledger key of a thing's classic (`None`) or named shadow.
fn shadow_key(thing_name: &ThingName, shadow_name: Option<&str>) -> String {
    match shadow_name {
        Some(name) => format!("shadow#{thing_name}#{name}"),
        None => format!("shadow#{thing_name}"),
    }
}

fn check_shadow_name(shadow_name: Option<&str>) -> Result<(), Rejection> {
    match shadow_name {
        Some(name) if !crate::replication::shadow::valid_shadow_name(name) => {
            Err(Rejection::Malformed(format!(
                "shadow name {name:?}: expected 1-64 characters of letters, digits, '$', ':', '_' and '-'"
            )))
        }
        _ => Ok(()),
    }
}

/// Whether any string anywhere in `value` (keys included) holds a private key block.
fn holds_private_key(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(text) => contains_private_key(text),
        serde_json::Value::Array(items) => items.iter().any(holds_private_key),
        serde_json::Value::Object(map) => map
            .iter()
            .any(|(key, value)| contains_private_key(key) || holds_private_key(value)),
        _ => false,
    }
}

fn check_role_alias(alias: &RoleAliasRecord) -> Result<(), Rejection> {
    let fields: Vec<&str> = alias.role_arn.splitn(6, ':').collect();
    let is_role = fields.len() == 6
        && fields[0] == "arn"
        && fields[2] == "iam"
        && fields[3].is_empty()
        && fields[4].parse::<AccountId>().is_ok()
        && fields[5].starts_with("role/")
        && fields[5].len() > "role/".len();
    if !is_role {
        return Err(Rejection::Malformed(format!(
            "role alias {} names {:?}, which is not an IAM role ARN",
            alias.role_alias, alias.role_arn
        )));
    }
    if !(900..=43_200).contains(&alias.credential_duration_seconds) {
        return Err(Rejection::Malformed(format!(
            "role alias {} lasts {} s; AWS allows 900-43200",
            alias.role_alias, alias.credential_duration_seconds
        )));
    }
    Ok(())
}

/// An exclusive thing is its certificate's only thing (AWS refuses anything else), and a
/// thing is named once: DR could not attach the record as it stands.
fn check_associations(record: &CertificateRecord) -> Result<(), Rejection> {
    let mut seen = std::collections::BTreeSet::new();
    if let Some(repeated) = record.things.iter().find(|t| !seen.insert(&t.thing_name)) {
        return Err(Rejection::Malformed(format!(
            "certificate {} names thing {} twice",
            record.certificate_id, repeated.thing_name
        )));
    }
    let exclusive = record
        .things
        .iter()
        .find(|t| !t.association.is_non_exclusive());
    match exclusive {
        Some(thing) if record.things.len() > 1 => Err(Rejection::Malformed(format!(
            "certificate {} is attached to {} exclusively and to {} other things; AWS allows an \
             exclusive thing only as a certificate's only thing",
            record.certificate_id,
            thing.thing_name,
            record.things.len() - 1
        ))),
        _ => Ok(()),
    }
}

fn check_groups(thing: &ThingRecord) -> Result<(), Rejection> {
    let Some(groups) = &thing.groups else {
        return Ok(());
    };
    if groups.len() > MAX_GROUPS_PER_THING {
        return Err(Rejection::Malformed(format!(
            "thing {} is in {} groups; AWS allows at most {MAX_GROUPS_PER_THING}",
            thing.thing_name,
            groups.len()
        )));
    }
    for group in groups {
        check_ancestry(&group.group_name, &group.ancestors)?;
    }
    Ok(())
}

fn check_group(group: &ThingGroupRecord) -> Result<(), Rejection> {
    check_ancestry(&group.group_name, &group.ancestors)?;
    if group.query.is_some() && !group.ancestors.is_empty() {
        return Err(Rejection::Malformed(format!(
            "dynamic thing group {} has a parent; AWS keeps dynamic groups out of hierarchies",
            group.group_name
        )));
    }
    if group.description.as_ref().is_some_and(|d| d.len() > 2028) {
        return Err(Rejection::Malformed(format!(
            "thing group {} has a description over AWS's 2028 characters",
            group.group_name
        )));
    }
    for policy in &group.policies {
        check_policy_document(policy)?;
    }
    Ok(())
}

/// A group's ancestors: at most [`MAX_GROUP_DEPTH`] levels, never the group itself, no
/// repeats (a cycle would make DR create groups forever).
fn check_ancestry(group: &ThingGroupName, ancestors: &[ThingGroupName]) -> Result<(), Rejection> {
    if ancestors.len() >= MAX_GROUP_DEPTH {
        return Err(Rejection::Malformed(format!(
            "thing group {group} is {} levels deep; AWS allows {MAX_GROUP_DEPTH}",
            ancestors.len() + 1
        )));
    }
    let mut seen = std::collections::BTreeSet::from([group]);
    if let Some(repeated) = ancestors.iter().find(|a| !seen.insert(a)) {
        return Err(Rejection::Malformed(format!(
            "thing group {group} names {repeated} twice in its ancestry"
        )));
    }
    Ok(())
}

fn check_policy_document(policy: &PolicyRecord) -> Result<(), Rejection> {
    match serde_json::from_str::<serde_json::Value>(&policy.document) {
        Ok(serde_json::Value::Object(_)) => Ok(()),
        _ => Err(Rejection::Malformed(format!(
            "policy {} has a document that is not a JSON object",
            policy.policy_name
        ))),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::certificate::tests::generated_pem;
    use crate::certificate::CertificateStatus;
    use crate::replication::records::ThingAssociation;

    pub(crate) fn certificate_message(pem: &str, status: CertificateStatus) -> ReplicationMessage {
        let id = CertificatePem::parse(pem).unwrap().id().clone();
        ReplicationMessage {
            schema_version: SCHEMA_VERSION,
            source: SourceRef {
                account_id: "111111111111".parse().unwrap(),
                region: "us-east-1".parse().unwrap(),
            },
            cause: "UpdateCertificate".to_owned(),
            event_time_ms: 1_000,
            observed_at_ms: 2_000,
            subject: Subject::Certificate(CertificateRecord {
                certificate_id: id,
                certificate_pem: pem.to_owned(),
                status,
                last_modified_ms: 1_500,
                ca: None,
                things: vec![ThingRecord {
                    thing_name: "wearable-1".parse().unwrap(),
                    thing_type: None,
                    attributes: BTreeMap::from([("model".to_owned(), "w2".to_owned())]),
                    groups: None,
                    association: Default::default(),
                }],
                policies: vec![PolicyRecord {
                    policy_name: "wearable".parse().unwrap(),
                    document: r#"{"Version":"2012-10-17","Statement":[]}"#.to_owned(),
                }],
            }),
        }
    }

    #[test]
    fn a_message_round_trips() {
        let message = certificate_message(&generated_pem(), CertificateStatus::Active);
        let decoded = ReplicationMessage::decode(&message.encode().unwrap()).unwrap();
        assert_eq!(decoded, message);
        assert!(decoded.subject.key().starts_with("cert#"));
    }

    #[test]
    fn a_thing_s_association_travels_only_when_exclusive_and_old_messages_read_as_non_exclusive() {
        let plain = certificate_message(&generated_pem(), CertificateStatus::Active);
        let encoded = plain.encode().unwrap();
        assert!(!encoded.contains("association"), "{encoded}");

        let mut exclusive = plain.clone();
        if let Subject::Certificate(record) = &mut exclusive.subject {
            record.things[0].association = ThingAssociation::Exclusive;
        }
        let encoded = exclusive.encode().unwrap();
        assert!(
            encoded.contains(r#""association":"EXCLUSIVE_THING""#),
            "{encoded}"
        );
        let decoded = ReplicationMessage::decode(&encoded).unwrap();
        assert_eq!(decoded, exclusive);
        // What a replicator of this version reads from a capture of the last one.
        let mut old: serde_json::Value = serde_json::from_str(&encoded).unwrap();
        let thing = old["subject"]["things"][0].as_object_mut().unwrap();
        assert!(thing.remove("association").is_some());
        assert_eq!(ReplicationMessage::decode(&old.to_string()).unwrap(), plain);
    }

    #[test]
    fn a_named_shadow_may_start_with_a_dollar_as_the_data_plane_allows() {
        let deleted = |name: &str| ReplicationMessage {
            subject: Subject::ShadowDeleted {
                thing_name: "wearable-1".parse().unwrap(),
                shadow_name: Some(name.to_owned()),
                version: 3,
                timestamp: 1_763_787_600,
            },
            ..certificate_message(&generated_pem(), CertificateStatus::Active)
        };
        // `[$a-zA-Z0-9:_-]+`, 1 to 64 characters.
        for good in ["$alerts", "a$b", &"$".repeat(64)] {
            let message = deleted(good);
            let decoded = ReplicationMessage::decode(&message.encode().unwrap()).unwrap();
            assert_eq!(decoded, message, "{good}");
        }
        for bad in ["", "alerts/x", "alerts+", &"a".repeat(65)] {
            let raw = serde_json::to_string(&deleted(bad)).unwrap();
            let refused = ReplicationMessage::decode(&raw).unwrap_err();
            assert!(
                refused.to_string().contains("shadow name"),
                "{bad:?}: {refused}"
            );
        }
    }

    #[test]
    fn bad_inputs_are_rejected_with_a_reason() {
        let good = certificate_message(&generated_pem(), CertificateStatus::Active)
            .encode()
            .unwrap();
        // Same id, another certificate's PEM: serialised directly, bypassing encode's check.
        let mut swapped = certificate_message(&generated_pem(), CertificateStatus::Active);
        if let Subject::Certificate(record) = &mut swapped.subject {
            record.certificate_pem = generated_pem();
        }
        let mismatched = serde_json::to_string(&swapped).unwrap();
        let cases: Vec<(String, &str)> = vec![
            ("{not json".to_owned(), "malformed"),
            (
                good.replace("\"kind\":\"certificate\"", "\"kind\":\"teleport\""),
                "unknown variant",
            ),
            (
                good.replace("\"schema_version\":1", "\"schema_version\":99"),
                "unsupported schema_version 99",
            ),
            (
                good.replace("\"cause\"", "\"extra\":1,\"cause\""),
                "unknown field",
            ),
            (good.replace("MII", "@@@"), "invalid certificate PEM"),
            (mismatched, "mismatch"),
            (
                good.replace(
                    "\"status\"",
                    "\"k\":\"-----BEGIN PRIVATE KEY-----\",\"status\"",
                ),
                "PRIVATE KEY",
            ),
            (format!("{good}{}", " ".repeat(MAX_MESSAGE_BYTES)), "limit"),
        ];
        for (raw, reason) in cases {
            let error = ReplicationMessage::decode(&raw)
                .expect_err(reason)
                .to_string();
            assert!(error.contains(reason), "expected {reason:?} in {error:?}");
        }
    }

    #[test]
    fn capture_refuses_to_encode_a_private_key() {
        let certified = rcgen::generate_simple_self_signed(vec!["d".to_owned()]).unwrap();
        let mut message = certificate_message(&certified.cert.pem(), CertificateStatus::Active);
        if let Subject::Certificate(record) = &mut message.subject {
            record
                .certificate_pem
                .push_str(&certified.signing_key.serialize_pem());
        }
        let error = message.encode().unwrap_err();
        assert_eq!(error, Rejection::Certificate(PemError::PrivateKey));
    }

    #[test]
    fn a_private_key_is_refused_wherever_it_hides() {
        let mut message = certificate_message(&generated_pem(), CertificateStatus::Active);
        if let Subject::Certificate(record) = &mut message.subject {
            record.things[0].attributes.insert(
                "backup".to_owned(),
                "-----BEGIN EC PRIVATE KEY-----".to_owned(),
            );
        }
        assert_eq!(
            message.encode().unwrap_err(),
            Rejection::Certificate(PemError::PrivateKey)
        );

        let clean = certificate_message(&generated_pem(), CertificateStatus::Active)
            .encode()
            .unwrap();
        let escaped = clean.replace(
            "\"cause\":",
            "\"x\":\"-----BEGIN PRIVATE KEY\\u002d----\",\"cause\":",
        );
        assert_eq!(
            ReplicationMessage::decode(&escaped).unwrap_err(),
            Rejection::Certificate(PemError::PrivateKey)
        );
    }

    #[test]
    fn long_subject_keys_get_a_bounded_group_id() {
        let long_name = "t".repeat(128);
        let subject = Subject::ThingDeleted {
            thing_name: long_name.parse().unwrap(),
        };
        assert_eq!(subject.key().len(), 134);
        let group = subject.group_id();
        assert!(
            group.len() <= MAX_GROUP_ID_LEN && group.starts_with("thing#sha256:"),
            "{group}"
        );
        let short = Subject::ThingDeleted {
            thing_name: "w-1".parse().unwrap(),
        };
        assert_eq!(short.group_id(), "thing#w-1");
    }

    #[test]
    fn versions_order_by_source_then_observation_and_encode_in_order() {
        let a = Version {
            source_ms: 5,
            observed_ms: 9,
        };
        let b = Version {
            source_ms: 5,
            observed_ms: 10,
        };
        let c = Version {
            source_ms: 6,
            observed_ms: 6,
        };
        assert!(a < b && b < c);
        assert!(a.encode() < b.encode() && b.encode() < c.encode());
        assert_eq!(Version::decode(&c.encode()), Some(c));
    }

    #[test]
    fn a_refused_body_that_may_carry_a_private_key_is_flagged_whatever_refused_it_first() {
        let key = "-----BEGIN PRIVATE KEY-----\nMIIEvQ\n-----END PRIVATE KEY-----";
        // Too large and carrying a key: the key is what refuses it.
        let huge = format!("{{\"k\":{key:?}}}{}", " ".repeat(MAX_MESSAGE_BYTES));
        let rejection = ReplicationMessage::decode(&huge).unwrap_err();
        assert_eq!(rejection, Rejection::Certificate(PemError::PrivateKey));
        assert!(rejection.may_carry_a_private_key(&huge));
        // Not JSON, its key hidden behind escapes the raw check cannot undo.
        let escaped = r#"{"k":"\u002d\u002d\u002d\u002d\u002dBEGIN \u0050RIVATE KEY"#;
        let rejection = ReplicationMessage::decode(escaped).unwrap_err();
        assert!(matches!(rejection, Rejection::Malformed(_)), "{rejection}");
        assert!(rejection.may_carry_a_private_key(escaped));
        // Plainly broken, nothing hidden: kept for the operator to read and replay.
        let broken = "{\"schema_version\": 1, ";
        assert!(!ReplicationMessage::decode(broken)
            .unwrap_err()
            .may_carry_a_private_key(broken));
    }
}
