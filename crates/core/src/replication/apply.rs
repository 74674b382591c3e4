//! Applying a replication message in DR: idempotent, never regressing, revoked wins.
//!
//! 1. The ledger says which version of the subject DR last applied; an older or equal
//!    message changes nothing ([`Outcome::Stale`]).
//! 2. Otherwise DR is brought to the message's state with idempotent calls only, so a crash
//!    at any point is repaired by the redelivery.
//! 3. Only then is the version recorded (a conditional write that never goes backwards). A
//!    message whose apply failed is therefore never marked applied.
//!
//! The FIFO topic and queue deliver one subject's messages one at a time, in publish order,
//! so steps 1–3 never race for the same subject.
//!
//! Revoked wins: if primary, DR, or the ledger has ever seen the certificate REVOKED, DR
//! sets and keeps REVOKED, whatever an older or confused message says.
//!
//! Deleted stays deleted: a message about one subject that names another (a certificate's
//! thing, a thing's group, a group's parent) never recreates it when DR applied its deletion
//! after the message was read (the ledger's tombstones say when).

use crate::port::PortError;
use std::collections::BTreeSet;

use crate::certificate::{CertificateId, CertificatePem, CertificateStatus};
use crate::ids::{ThingGroupName, ThingName};
use crate::replication::arn::ArnRewrite;
use crate::replication::message::{ReplicationMessage, Subject};
use crate::replication::ports::{
    ApplyLedger, CertificateRegistry, DeviceRegistry, GroupWrite, LedgerEntry, Recorded,
    Registration, ShadowStore, ThingGroupRegistry,
};
use crate::replication::records::{CertificateRecord, GroupRef, PolicyRecord, ThingGroupRecord};
use crate::replication::shadow::ShadowDocument;
use crate::time::EpochMillis;

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
    /// A shadow brought to primary's update (leaves DR wrote later kept).
    Shadow(String),
    /// A shadow update DR already held, or whose every leaf DR rewrote later: nothing sent.
    ShadowUnchanged(String),
    /// A shadow deleted.
    DeletedShadow(String),
    /// A shadow primary deleted, kept: DR wrote it well after the deletion (after a failover).
    KeptShadow(String),
}

/// A shadow DR wrote this long after primary deleted it was written in DR, not replicated
/// from before the deletion (replication lags seconds, not minutes): it is kept.
pub const SHADOW_DELETE_MARGIN_SECONDS: i64 = 300;

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

/// Apply one decoded message to DR.
pub async fn apply<R, L>(
    message: &ReplicationMessage,
    rewrite: &ArnRewrite,
    dr: &R,
    ledger: &L,
) -> Result<Outcome, ApplyError>
where
    R: DeviceRegistry + Sync,
    L: ApplyLedger + Sync,
{
    let key = message.subject.key();
    let version = message.version();
    let previous = ledger.entry(&key).await.map_err(ApplyError::Ledger)?;
    if previous.is_some_and(|entry| entry.version >= version) {
        return Ok(Outcome::Stale);
    }
    let was_revoked = previous.is_some_and(|entry| entry.revoked);

    let mut changes = Vec::new();
    let revoked = match &message.subject {
        Subject::Certificate(record) => {
            let context = CertificateContext {
                was_revoked,
                observed_ms: message.observed_at_ms,
                rewrite,
            };
            apply_certificate(record, &context, dr, ledger, &mut changes).await?
        }
        Subject::CertificateDeleted { certificate_id } => {
            let dr_revoked = delete_certificate(certificate_id, dr, &mut changes).await?;
            was_revoked || dr_revoked
        }
        Subject::Thing(thing) => {
            dr.put_thing(thing).await.map_err(ApplyError::Registry)?;
            changes.push(Change::Thing(thing.thing_name.to_string()));
            if let Some(groups) = &thing.groups {
                let tombstones = Tombstones {
                    observed_ms: message.observed_at_ms,
                    ledger,
                };
                sync_memberships(&thing.thing_name, groups, &tombstones, dr, &mut changes).await?;
            }
            false
        }
        Subject::ThingDeleted { thing_name } => {
            for id in dr
                .thing_certificates(thing_name)
                .await
                .map_err(ApplyError::Registry)?
            {
                dr.detach_thing(thing_name, &id)
                    .await
                    .map_err(ApplyError::Registry)?;
                changes.push(Change::DetachedThing(thing_name.to_string()));
            }
            dr.delete_thing(thing_name)
                .await
                .map_err(ApplyError::Registry)?;
            changes.push(Change::DeletedThing(thing_name.to_string()));
            false
        }
        Subject::Policy(policy) => {
            dr.put_policy(&rewritten(policy, rewrite)?)
                .await
                .map_err(ApplyError::Registry)?;
            changes.push(Change::Policy(policy.policy_name.to_string()));
            false
        }
        Subject::ThingGroup(group) => {
            let tombstones = Tombstones {
                observed_ms: message.observed_at_ms,
                ledger,
            };
            apply_group(group, &tombstones, rewrite, dr, &mut changes).await?;
            false
        }
        Subject::ThingGroupDeleted { group_name } => {
            delete_group(group_name, dr, &mut changes).await?;
            false
        }
        Subject::RoleAlias(alias) => {
            // The same role name in DR's account: DR's stack (or its operators) keep a role
            // of that name with DR's permissions; readiness checks it is there.
            let in_dr = crate::replication::records::RoleAliasRecord {
                role_arn: rewrite.rewrite_arn(&alias.role_arn),
                ..alias.clone()
            };
            dr.put_role_alias(&in_dr)
                .await
                .map_err(ApplyError::Registry)?;
            changes.push(Change::RoleAlias(format!(
                "{} -> {}",
                in_dr.role_alias, in_dr.role_arn
            )));
            false
        }
        Subject::RoleAliasDeleted { role_alias } => {
            dr.delete_role_alias(role_alias)
                .await
                .map_err(ApplyError::Registry)?;
            changes.push(Change::DeletedRoleAlias(role_alias.to_string()));
            false
        }
        Subject::ProvisioningTemplate(template) => {
            let in_dr = template.in_dr(rewrite).map_err(ApplyError::Invalid)?;
            // The policies it attaches by name must exist before a device provisions;
            // their documents stay owned by policy messages.
            for policy in &in_dr.policies {
                dr.ensure_policy(policy)
                    .await
                    .map_err(ApplyError::Registry)?;
            }
            dr.put_provisioning_template(&in_dr)
                .await
                .map_err(ApplyError::Registry)?;
            changes.push(Change::ProvisioningTemplate(format!(
                "{} -> {}",
                in_dr.template_name, in_dr.provisioning_role_arn
            )));
            false
        }
        Subject::ProvisioningTemplateDeleted { template_name } => {
            dr.delete_provisioning_template(template_name)
                .await
                .map_err(ApplyError::Registry)?;
            changes.push(Change::DeletedProvisioningTemplate(
                template_name.to_string(),
            ));
            false
        }
        Subject::Shadow(update) => {
            let name = update.shadow_name.as_deref();
            let in_dr = dr
                .shadow(&update.thing_name, name)
                .await
                .map_err(ApplyError::Registry)?;
            let sent = bring_shadow(
                dr,
                &update.thing_name,
                name,
                update.previous.as_ref(),
                &update.current,
                in_dr.as_ref(),
            )
            .await
            .map_err(ApplyError::Registry)?;
            changes.push(if sent {
                Change::Shadow(key.clone())
            } else {
                Change::ShadowUnchanged(key.clone())
            });
            false
        }
        Subject::ShadowDeleted {
            thing_name,
            shadow_name,
            timestamp,
            ..
        } => {
            let name = shadow_name.as_deref();
            match dr
                .shadow(thing_name, name)
                .await
                .map_err(ApplyError::Registry)?
            {
                Some(doc) if doc.timestamp > timestamp + SHADOW_DELETE_MARGIN_SECONDS => {
                    changes.push(Change::KeptShadow(key.clone()));
                }
                Some(_) => {
                    dr.delete_shadow(thing_name, name)
                        .await
                        .map_err(ApplyError::Registry)?;
                    changes.push(Change::DeletedShadow(key.clone()));
                }
                None => {}
            }
            false
        }
    };

    let deleted = matches!(
        message.subject,
        Subject::CertificateDeleted { .. }
            | Subject::ThingDeleted { .. }
            | Subject::ThingGroupDeleted { .. }
            | Subject::RoleAliasDeleted { .. }
            | Subject::ProvisioningTemplateDeleted { .. }
            | Subject::ShadowDeleted { .. }
    );
    let entry = LedgerEntry {
        version,
        revoked,
        deleted,
    };
    // `NewerExists` means a writer outside the FIFO order (the reconciler) recorded a newer
    // state meanwhile; ours was applied all the same and the ledger keeps the newer version.
    let _: Recorded = ledger
        .record(&key, entry)
        .await
        .map_err(ApplyError::Ledger)?;
    Ok(Outcome::Applied { changes })
}

/// What applying a certificate needs to know beyond the record itself.
struct CertificateContext<'a> {
    was_revoked: bool,
    observed_ms: EpochMillis,
    rewrite: &'a ArnRewrite,
}

/// Bring the target's shadow, `in_target` as just read, to `current` by the per-leaf merge
/// ([`shadow::merge`]): `previous` is what the source's shadow was before (`None`: unknown,
/// as for a reconcile repair, so every differing leaf goes by its metadata timestamps).
/// Whether an update was sent.
///
/// [`shadow::merge`]: crate::replication::shadow::merge
pub async fn bring_shadow<R: ShadowStore + Sync>(
    target: &R,
    thing: &ThingName,
    name: Option<&str>,
    previous: Option<&ShadowDocument>,
    current: &ShadowDocument,
    in_target: Option<&ShadowDocument>,
) -> Result<bool, PortError> {
    match crate::replication::shadow::merge(previous, current, in_target) {
        Some(patch) => {
            target.update_shadow(thing, name, &patch).await?;
            Ok(true)
        }
        None => Ok(false),
    }
}

/// Bring one certificate, its policies and things to the record's state. Returns whether
/// the certificate is (now) revoked.
async fn apply_certificate<R: CertificateRegistry + Sync, L: ApplyLedger + Sync>(
    record: &CertificateRecord,
    context: &CertificateContext<'_>,
    dr: &R,
    ledger: &L,
    changes: &mut Vec<Change>,
) -> Result<bool, ApplyError> {
    let (was_revoked, rewrite) = (context.was_revoked, context.rewrite);
    let pem = CertificatePem::parse_as(&record.certificate_pem, &record.certificate_id)
        .map_err(|e| ApplyError::Invalid(e.to_string()))?;
    let id = &record.certificate_id;
    let wanted = if was_revoked {
        CertificateStatus::Revoked
    } else {
        record.status.in_dr()
    };

    // Register first, with the wanted status: for a new certificate that is one call.
    let ca_pem = match &record.ca {
        Some(ca) => match &ca.ca_certificate_pem {
            Some(pem) if dr_has_ca(dr, &ca.ca_certificate_id).await? => Some(pem.as_str()),
            _ => None,
        },
        None => None,
    };
    let registration = dr
        .register_certificate(&pem, ca_pem, wanted)
        .await
        .map_err(ApplyError::Registry)?;

    let revoked = match registration {
        Registration::New => {
            changes.push(Change::Registered(wanted));
            if ca_pem.is_none() {
                changes.push(Change::RegisteredWithoutCa {
                    missing_ca: record.ca.as_ref().map(|ca| ca.ca_certificate_id.clone()),
                });
            }
            wanted == CertificateStatus::Revoked
        }
        Registration::AlreadyExisted => {
            let current = dr
                .certificate(id)
                .await
                .map_err(ApplyError::Registry)?
                .map(|view| view.status);
            let target = if current == Some(CertificateStatus::Revoked) {
                CertificateStatus::Revoked
            } else {
                wanted
            };
            if current != Some(target) {
                dr.set_status(id, target)
                    .await
                    .map_err(ApplyError::Registry)?;
                changes.push(Change::Status(target));
            }
            target == CertificateStatus::Revoked
        }
    };
    if revoked && record.status != CertificateStatus::Revoked {
        changes.push(Change::KeptRevoked);
    }

    let fresh = registration == Registration::New;
    sync_policies(record, fresh, rewrite, dr, changes).await?;
    sync_things(record, fresh, context.observed_ms, dr, ledger, changes).await?;
    Ok(revoked)
}

async fn dr_has_ca<R: CertificateRegistry + Sync>(
    dr: &R,
    ca: &CertificateId,
) -> Result<bool, ApplyError> {
    Ok(dr
        .ca_certificate_pem(ca)
        .await
        .map_err(ApplyError::Registry)?
        .is_some())
}

/// Attach exactly the record's policies (creating any DR lacks), detach the rest.
async fn sync_policies<R: CertificateRegistry + Sync>(
    record: &CertificateRecord,
    fresh: bool,
    rewrite: &ArnRewrite,
    dr: &R,
    changes: &mut Vec<Change>,
) -> Result<(), ApplyError> {
    let id = &record.certificate_id;
    let attached = if fresh {
        BTreeSet::new()
    } else {
        dr.certificate_policy_names(id)
            .await
            .map_err(ApplyError::Registry)?
    };
    let wanted: BTreeSet<_> = record
        .policies
        .iter()
        .map(|p| p.policy_name.clone())
        .collect();
    for policy in &record.policies {
        if attached.contains(&policy.policy_name) {
            continue;
        }
        dr.ensure_policy(&rewritten(policy, rewrite)?)
            .await
            .map_err(ApplyError::Registry)?;
        dr.attach_policy(&policy.policy_name, id)
            .await
            .map_err(ApplyError::Registry)?;
        changes.push(Change::AttachedPolicy(policy.policy_name.to_string()));
    }
    for name in attached.difference(&wanted) {
        dr.detach_policy(name, id)
            .await
            .map_err(ApplyError::Registry)?;
        changes.push(Change::DetachedPolicy(name.to_string()));
    }
    Ok(())
}

/// Attach exactly the record's things (creating any DR lacks), detach the rest — except a
/// thing whose deletion DR applied after this record was read: the certificate message is
/// older news, and must not bring the thing back.
async fn sync_things<R: CertificateRegistry + Sync, L: ApplyLedger + Sync>(
    record: &CertificateRecord,
    fresh: bool,
    observed_ms: EpochMillis,
    dr: &R,
    ledger: &L,
    changes: &mut Vec<Change>,
) -> Result<(), ApplyError> {
    let id = &record.certificate_id;
    let attached = if fresh {
        BTreeSet::new()
    } else {
        dr.certificate_things(id)
            .await
            .map_err(ApplyError::Registry)?
    };
    let wanted: BTreeSet<_> = record.things.iter().map(|t| t.thing_name.clone()).collect();
    for thing in &record.things {
        if attached.contains(&thing.thing_name) {
            continue;
        }
        let tombstone = ledger
            .entry(
                &Subject::ThingDeleted {
                    thing_name: thing.thing_name.clone(),
                }
                .key(),
            )
            .await
            .map_err(ApplyError::Ledger)?;
        if tombstone.is_some_and(|t| t.deleted && t.version.observed_ms > observed_ms) {
            changes.push(Change::SkippedDeletedThing(thing.thing_name.to_string()));
            continue;
        }
        dr.ensure_thing(thing).await.map_err(ApplyError::Registry)?;
        dr.attach_thing(&thing.thing_name, id)
            .await
            .map_err(ApplyError::Registry)?;
        changes.push(Change::AttachedThing(thing.thing_name.to_string()));
    }
    for name in attached.difference(&wanted) {
        dr.detach_thing(name, id)
            .await
            .map_err(ApplyError::Registry)?;
        changes.push(Change::DetachedThing(name.to_string()));
    }
    Ok(())
}

/// Detach everything, make it not ACTIVE (AWS refuses to delete an ACTIVE certificate;
/// a REVOKED one stays REVOKED), delete. Returns whether DR had it REVOKED, which the
/// ledger keeps remembering after the certificate is gone.
async fn delete_certificate<R: CertificateRegistry + Sync>(
    id: &CertificateId,
    dr: &R,
    changes: &mut Vec<Change>,
) -> Result<bool, ApplyError> {
    let Some(current) = dr.certificate(id).await.map_err(ApplyError::Registry)? else {
        return Ok(false);
    };
    for thing in dr
        .certificate_things(id)
        .await
        .map_err(ApplyError::Registry)?
    {
        dr.detach_thing(&thing, id)
            .await
            .map_err(ApplyError::Registry)?;
        changes.push(Change::DetachedThing(thing.to_string()));
    }
    for policy in dr
        .certificate_policy_names(id)
        .await
        .map_err(ApplyError::Registry)?
    {
        dr.detach_policy(&policy, id)
            .await
            .map_err(ApplyError::Registry)?;
        changes.push(Change::DetachedPolicy(policy.to_string()));
    }
    if current.status == CertificateStatus::Active {
        dr.set_status(id, CertificateStatus::Inactive)
            .await
            .map_err(ApplyError::Registry)?;
        changes.push(Change::Status(CertificateStatus::Inactive));
    }
    dr.delete_certificate(id)
        .await
        .map_err(ApplyError::Registry)?;
    changes.push(Change::DeletedCertificate);
    Ok(current.status == CertificateStatus::Revoked)
}

/// The ledger's deletions, seen from a message read at `observed_ms`.
struct Tombstones<'a, L> {
    observed_ms: EpochMillis,
    ledger: &'a L,
}

impl<L: ApplyLedger + Sync> Tombstones<'_, L> {
    /// Whether DR applied the group's deletion after the message was read.
    async fn group_deleted_since(&self, group: &ThingGroupName) -> Result<bool, ApplyError> {
        let key = Subject::ThingGroupDeleted {
            group_name: group.clone(),
        }
        .key();
        let entry = self.ledger.entry(&key).await.map_err(ApplyError::Ledger)?;
        Ok(entry.is_some_and(|t| t.deleted && t.version.observed_ms > self.observed_ms))
    }
}

/// Create the missing ancestors of a group, root first, each under its own parent. `false`
/// when one was deleted in DR after the message was read: the message is older news.
async fn ensure_ancestry<R: ThingGroupRegistry + Sync, L: ApplyLedger + Sync>(
    ancestors: &[ThingGroupName],
    tombstones: &Tombstones<'_, L>,
    dr: &R,
    changes: &mut Vec<Change>,
) -> Result<bool, ApplyError> {
    for (depth, ancestor) in ancestors.iter().enumerate() {
        if tombstones.group_deleted_since(ancestor).await? {
            changes.push(Change::SkippedDeletedThingGroup(ancestor.to_string()));
            return Ok(false);
        }
        let parent = depth.checked_sub(1).map(|d| &ancestors[d]);
        dr.ensure_thing_group(ancestor, parent)
            .await
            .map_err(ApplyError::Registry)?;
    }
    Ok(true)
}

/// Bring a group to the record: its ancestors exist, its properties set (recreated when DR
/// has it in another place), exactly its policies attached.
async fn apply_group<R, L>(
    record: &ThingGroupRecord,
    tombstones: &Tombstones<'_, L>,
    rewrite: &ArnRewrite,
    dr: &R,
    changes: &mut Vec<Change>,
) -> Result<(), ApplyError>
where
    R: DeviceRegistry + Sync,
    L: ApplyLedger + Sync,
{
    let name = &record.group_name;
    if !ensure_ancestry(&record.ancestors, tombstones, dr, changes).await? {
        return Ok(());
    }
    let registry = ApplyError::Registry;
    if dr.put_thing_group(record).await.map_err(registry)? == GroupWrite::Misplaced {
        delete_group(name, dr, changes).await?;
        if dr.put_thing_group(record).await.map_err(registry)? == GroupWrite::Misplaced {
            return Err(ApplyError::Invalid(format!(
                "thing group {name} is still misplaced in DR after recreating it"
            )));
        }
        changes.push(Change::RecreatedThingGroup(name.to_string()));
    } else {
        changes.push(Change::ThingGroup(name.to_string()));
    }

    let attached = dr.thing_group_policy_names(name).await.map_err(registry)?;
    let wanted: BTreeSet<_> = record.policies.iter().map(|p| &p.policy_name).collect();
    for policy in &record.policies {
        if attached.contains(&policy.policy_name) {
            continue;
        }
        dr.ensure_policy(&rewritten(policy, rewrite)?)
            .await
            .map_err(registry)?;
        dr.attach_group_policy(&policy.policy_name, name)
            .await
            .map_err(registry)?;
        changes.push(Change::AttachedGroupPolicy(policy.policy_name.to_string()));
    }
    for policy in attached.iter().filter(|p| !wanted.contains(p)) {
        dr.detach_group_policy(policy, name)
            .await
            .map_err(registry)?;
        changes.push(Change::DetachedGroupPolicy(policy.to_string()));
    }
    Ok(())
}

/// Detach a group's policies and delete it; a group DR lacks is already deleted.
async fn delete_group<R: ThingGroupRegistry + Sync>(
    name: &ThingGroupName,
    dr: &R,
    changes: &mut Vec<Change>,
) -> Result<(), ApplyError> {
    let registry = ApplyError::Registry;
    if dr.thing_group(name).await.map_err(registry)?.is_none() {
        return Ok(());
    }
    for policy in dr.thing_group_policy_names(name).await.map_err(registry)? {
        dr.detach_group_policy(&policy, name)
            .await
            .map_err(registry)?;
        changes.push(Change::DetachedGroupPolicy(policy.to_string()));
    }
    dr.delete_thing_group(name).await.map_err(registry)?;
    changes.push(Change::DeletedThingGroup(name.to_string()));
    Ok(())
}

/// Make a thing's static memberships exactly `groups` (creating groups DR has not seen yet
/// in their place), except groups deleted in DR after the message was read. Dynamic groups
/// are DR's fleet index's business: never added to, never removed from.
async fn sync_memberships<R: ThingGroupRegistry + Sync, L: ApplyLedger + Sync>(
    thing: &ThingName,
    groups: &[GroupRef],
    tombstones: &Tombstones<'_, L>,
    dr: &R,
    changes: &mut Vec<Change>,
) -> Result<(), ApplyError> {
    let registry = ApplyError::Registry;
    let current = dr.thing_group_names(thing).await.map_err(registry)?;
    for group in groups.iter().filter(|g| !g.dynamic) {
        let name = &group.group_name;
        if current.contains(name) {
            continue;
        }
        if tombstones.group_deleted_since(name).await? {
            changes.push(Change::SkippedDeletedThingGroup(name.to_string()));
            continue;
        }
        if !ensure_ancestry(&group.ancestors, tombstones, dr, changes).await? {
            continue;
        }
        dr.ensure_thing_group(name, group.ancestors.last())
            .await
            .map_err(registry)?;
        dr.add_to_group(thing, name).await.map_err(registry)?;
        changes.push(Change::AddedToGroup(name.to_string()));
    }
    let wanted: BTreeSet<_> = groups.iter().map(|g| &g.group_name).collect();
    for name in current.iter().filter(|name| !wanted.contains(name)) {
        let dynamic = dr
            .thing_group(name)
            .await
            .map_err(registry)?
            .is_some_and(|g| g.query.is_some());
        if dynamic {
            continue;
        }
        dr.remove_from_group(thing, name).await.map_err(registry)?;
        changes.push(Change::RemovedFromGroup(name.to_string()));
    }
    Ok(())
}

fn rewritten(policy: &PolicyRecord, rewrite: &ArnRewrite) -> Result<PolicyRecord, ApplyError> {
    Ok(PolicyRecord {
        policy_name: policy.policy_name.clone(),
        document: rewrite
            .rewrite_document(&policy.document)
            .map_err(ApplyError::Invalid)?,
    })
}
