//! A certificate brought to its record's state in DR: registered with the same PEM (against
//! its CA where DR has it), its status (revoked wins), exactly its policies and things; or
//! deleted.

use std::collections::{BTreeMap, BTreeSet};

use super::{ApplyError, Change};
use crate::certificate::{CertificateId, CertificatePem, CertificateStatus};
use crate::ids::ThingName;
use crate::replication::arn::ArnRewrite;
use crate::replication::message::Subject;
use crate::replication::ports::{ApplyLedger, CertificateRegistry, Registration};
use crate::replication::records::{CertificateRecord, ThingAssociation};
use crate::time::EpochMillis;

/// What applying a certificate needs to know beyond the record itself.
pub(super) struct CertificateContext<'a> {
    pub(super) was_revoked: bool,
    pub(super) observed_ms: EpochMillis,
    pub(super) rewrite: &'a ArnRewrite,
}

/// Bring one certificate, its policies and things to the record's state. Returns whether
/// the certificate is (now) revoked.
pub(super) async fn apply_certificate<R: CertificateRegistry + Sync, L: ApplyLedger + Sync>(
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

pub(super) async fn dr_has_ca<R: CertificateRegistry + Sync>(
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
pub(super) async fn sync_policies<R: CertificateRegistry + Sync>(
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
        dr.ensure_policy(&rewrite.policy(policy).map_err(ApplyError::Invalid)?)
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

/// Attach exactly the record's things with their associations (creating any DR lacks),
/// detach the rest — except a thing whose deletion DR applied after this record was read:
/// the certificate message is older news, and must not bring the thing back.
///
/// Attach first, so a device moved between things always has one; but AWS refuses an
/// exclusive attach while the certificate has another thing, and any attach while another
/// thing holds it exclusively, so then the unwanted links go first. AWS documents no way to
/// change a link's association in place: a link attached the other way is detached and
/// attached again, before any new link (which the old association could refuse).
pub(super) async fn sync_things<R: CertificateRegistry + Sync, L: ApplyLedger + Sync>(
    record: &CertificateRecord,
    fresh: bool,
    observed_ms: EpochMillis,
    dr: &R,
    ledger: &L,
    changes: &mut Vec<Change>,
) -> Result<(), ApplyError> {
    let id = &record.certificate_id;
    let attached = if fresh {
        BTreeMap::new()
    } else {
        dr.certificate_thing_associations(id)
            .await
            .map_err(ApplyError::Registry)?
    };
    let wanted: BTreeMap<_, _> = record
        .things
        .iter()
        .map(|t| (t.thing_name.clone(), t.association))
        .collect();
    let unwanted: Vec<ThingName> = attached
        .keys()
        .filter(|name| !wanted.contains_key(*name))
        .cloned()
        .collect();
    let exclusive = |association: &ThingAssociation| *association == ThingAssociation::Exclusive;
    let detach_first =
        wanted.values().any(exclusive) || unwanted.iter().any(|name| exclusive(&attached[name]));
    if detach_first {
        detach_things(id, &unwanted, dr, changes).await?;
    }
    for thing in &record.things {
        if attached
            .get(&thing.thing_name)
            .is_none_or(|association| *association == thing.association)
        {
            continue;
        }
        dr.detach_thing(&thing.thing_name, id)
            .await
            .map_err(ApplyError::Registry)?;
        dr.attach_thing(&thing.thing_name, id, thing.association)
            .await
            .map_err(ApplyError::Registry)?;
        changes.push(Change::RetypedThing(format!(
            "{} -> {}",
            thing.thing_name, thing.association
        )));
    }
    for thing in &record.things {
        if attached.contains_key(&thing.thing_name) {
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
        dr.attach_thing(&thing.thing_name, id, thing.association)
            .await
            .map_err(ApplyError::Registry)?;
        changes.push(Change::AttachedThing(thing.thing_name.to_string()));
    }
    if !detach_first {
        detach_things(id, &unwanted, dr, changes).await?;
    }
    Ok(())
}

async fn detach_things<R: CertificateRegistry + Sync>(
    id: &CertificateId,
    things: &[ThingName],
    dr: &R,
    changes: &mut Vec<Change>,
) -> Result<(), ApplyError> {
    for name in things {
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
pub(super) async fn delete_certificate<R: CertificateRegistry + Sync>(
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
