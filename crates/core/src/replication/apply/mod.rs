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

mod certificate;
mod groups;
mod outcome;
mod tombstones;

pub use outcome::{ApplyError, Change, Outcome};

use crate::ids::ThingName;
use crate::port::PortError;
use crate::replication::arn::ArnRewrite;
use crate::replication::message::{ReplicationMessage, Subject};
use crate::replication::ports::{ApplyLedger, DeviceRegistry, LedgerEntry, Recorded, ShadowStore};
use crate::replication::records::{CaCertificateRecord, CaCertificateStatus, ThingTypeRecord};
use crate::replication::shadow::{Base, ShadowDocument, ShadowState};
use certificate::{apply_certificate, delete_certificate, CertificateContext};
use groups::{apply_group, delete_group, sync_memberships};
use tombstones::Tombstones;

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
    if previous
        .as_ref()
        .is_some_and(|entry| entry.version >= version)
    {
        return Ok(Outcome::Stale);
    }
    let was_revoked = previous.as_ref().is_some_and(|entry| entry.revoked);
    let mut shadow_base = None;

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
            dr.put_policy(&rewrite.policy(policy).map_err(ApplyError::Invalid)?)
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
        Subject::ThingType(thing_type) => {
            dr.put_thing_type(thing_type)
                .await
                .map_err(ApplyError::Registry)?;
            changes.push(Change::ThingType(thing_type.thing_type_name.clone()));
            false
        }
        // DeleteThingType needs the type deprecated for five minutes and no thing using it;
        // DR's things follow their own messages, so DR deprecates the type (no new thing may
        // take it, as in primary) and leaves the deletion to its operators.
        Subject::ThingTypeDeleted { thing_type_name } => {
            let in_dr = dr
                .thing_type(thing_type_name)
                .await
                .map_err(ApplyError::Registry)?;
            if let Some(thing_type) = in_dr.filter(|t| !t.deprecated) {
                dr.put_thing_type(&ThingTypeRecord {
                    deprecated: true,
                    ..thing_type
                })
                .await
                .map_err(ApplyError::Registry)?;
                changes.push(Change::DeprecatedThingType(thing_type_name.clone()));
            }
            false
        }
        Subject::CaCertificate(ca) => {
            set_ca(ca, dr, &mut changes).await?;
            false
        }
        // Deleting a CA in DR needs every certificate it registered gone first: operators'
        // work. Until then it must vouch for nothing, as in primary.
        Subject::CaCertificateDeleted { ca_certificate_id } => {
            let retired = CaCertificateRecord {
                ca_certificate_id: ca_certificate_id.clone(),
                status: CaCertificateStatus::Inactive,
                auto_registration: false,
            };
            set_ca(&retired, dr, &mut changes).await?;
            false
        }
        Subject::Shadow(update) => {
            let name = update.shadow_name.as_deref();
            let in_dr = dr
                .shadow(&update.thing_name, name)
                .await
                .map_err(ApplyError::Registry)?;
            let empty = ShadowState::default();
            let base = match &previous {
                Some(entry) => Base::Known(entry.shadow_base.as_ref().unwrap_or(&empty)),
                // Never applied here. With nothing in DR, or for a reconcile read (no
                // `previous`; primary is the truth), every leaf follows primary; otherwise
                // the update's own `previous` is the last state DR could have had from it.
                None if in_dr.is_none() || message.cause == RECONCILE_CAUSE => Base::Unknown,
                None => Base::Known(
                    update
                        .previous
                        .as_ref()
                        .map_or(&empty, |document| &document.state),
                ),
            };
            let sent = bring_shadow(
                dr,
                &update.thing_name,
                name,
                base,
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
            shadow_base = Some(update.current.state.clone());
            false
        }
        Subject::ShadowDeleted {
            thing_name,
            shadow_name,
            ..
        } => {
            let name = shadow_name.as_deref();
            let in_dr = dr
                .shadow(thing_name, name)
                .await
                .map_err(ApplyError::Registry)?;
            // DR's shadow goes when it still holds what DR last applied from primary (by
            // value: never by a timestamp, DR's clock is not primary's); one DR wrote since
            // is DR's own (after a failover, a device's or a clinician's) and stays.
            let base = previous
                .as_ref()
                .and_then(|entry| entry.shadow_base.as_ref());
            match in_dr {
                Some(doc) if !base.is_some_and(|base| doc.holds(base)) => {
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
            | Subject::CaCertificateDeleted { .. }
            | Subject::ThingTypeDeleted { .. }
    );
    let entry = LedgerEntry {
        version,
        revoked,
        deleted,
        shadow_base,
    };
    // `NewerExists` means a writer outside the FIFO order (the reconciler) recorded a newer
    // state meanwhile; ours was applied all the same and the ledger keeps the newer version.
    let _: Recorded = ledger
        .record(&key, entry)
        .await
        .map_err(ApplyError::Ledger)?;
    Ok(Outcome::Applied { changes })
}

/// The `clientToken` every shadow write of the replicator and the reconciler carries. AWS
/// echoes it in the update's answers, so DR's own rules, its operators and failback's
/// capture can tell a replicated write from a device's or a clinician's.
pub const REPLICATED_CLIENT_TOKEN: &str = "iot-dr-replicated";

/// How the shadow service refuses an update whose `version` is no longer the latest.
pub const VERSION_CONFLICT: &str = "ConflictException";

/// How often a shadow write reads and merges again after losing a version race.
const SHADOW_WRITE_TRIES: usize = 3;

/// Bring a CA registered in DR to primary's status and auto-registration. A CA DR lacks is
/// registered there by its operators (readiness names it); the message is applied all the
/// same, so it is not retried for ever.
async fn set_ca<R: DeviceRegistry + Sync>(
    ca: &CaCertificateRecord,
    dr: &R,
    changes: &mut Vec<Change>,
) -> Result<(), ApplyError> {
    let registered = dr
        .set_ca_certificate(ca)
        .await
        .map_err(ApplyError::Registry)?;
    changes.push(if registered {
        Change::CaCertificate(format!(
            "{} {} auto-registration {}",
            ca.ca_certificate_id,
            ca.status.as_str(),
            if ca.auto_registration { "on" } else { "off" }
        ))
    } else {
        Change::CaMissingInDr(ca.ca_certificate_id.clone())
    });
    Ok(())
}

/// The cause of the messages the reconciler builds from what it reads: a shadow read has no
/// `previous`, and with no ledger entry either the source is the truth.
pub const RECONCILE_CAUSE: &str = "reconcile";

/// Bring the target's shadow, `in_target` as just read, to `current` by the three-way merge
/// against `base` ([`shadow::merge`]). Whether an update was sent.
///
/// The write names the version it merged against ("the Device Shadow service processes the
/// update only if the specified version matches the latest version it has"), so a device or
/// clinician writing DR between our read and our write is never overwritten by a merge that
/// did not see them: on a conflict the shadow is read and merged again, a few times, then
/// the failure is retryable.
///
/// [`shadow::merge`]: crate::replication::shadow::merge
pub async fn bring_shadow<R: ShadowStore + Sync>(
    target: &R,
    thing: &ThingName,
    name: Option<&str>,
    base: Base<'_>,
    current: &ShadowDocument,
    in_target: Option<&ShadowDocument>,
) -> Result<bool, PortError> {
    let mut in_target = in_target.cloned();
    for _ in 0..SHADOW_WRITE_TRIES {
        let Some(mut patch) = crate::replication::shadow::merge(base, current, in_target.as_ref())
        else {
            return Ok(false);
        };
        patch["clientToken"] = REPLICATED_CLIENT_TOKEN.into();
        if let Some(read) = &in_target {
            patch["version"] = read.version.into();
        }
        match target.update_shadow(thing, name, &patch).await {
            Ok(()) => return Ok(true),
            Err(e) if e.message.starts_with(VERSION_CONFLICT) => {
                in_target = target.shadow(thing, name).await?;
            }
            Err(e) => return Err(e),
        }
    }
    Err(PortError::transient(
        "UpdateThingShadow",
        format!(
            "shadow of {thing}: {VERSION_CONFLICT} {SHADOW_WRITE_TRIES} times in a row (it keeps changing); trying again later"
        ),
    ))
}
