//! Thing groups brought to their records' state in DR: ancestors first, recreated where DR
//! has a group in another place, exactly their policies; and a thing's static memberships.

use std::collections::BTreeSet;

use super::tombstones::Tombstones;
use super::{ApplyError, Change};
use crate::ids::{ThingGroupName, ThingName};
use crate::replication::arn::ArnRewrite;
use crate::replication::ports::{ApplyLedger, DeviceRegistry, GroupWrite, ThingGroupRegistry};
use crate::replication::records::{GroupRef, ThingGroupRecord};

/// Create the missing ancestors of a group, root first, each under its own parent. `false`
/// when one was deleted in DR after the message was read: the message is older news.
pub(super) async fn ensure_ancestry<R: ThingGroupRegistry + Sync, L: ApplyLedger + Sync>(
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
pub(super) async fn apply_group<R, L>(
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
        dr.ensure_policy(&rewrite.policy(policy).map_err(ApplyError::Invalid)?)
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
pub(super) async fn delete_group<R: ThingGroupRegistry + Sync>(
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
///
/// Removals come first: AWS refuses a thing a second group of one hierarchy ("you can't add
/// a thing to more than one group in the same hierarchy") and an eleventh group, so a
/// wearable moving from ward-7 to its sibling ward-8 must leave ward-7 before it can join
/// ward-8. Primary's memberships obey both rules, so once the old ones are gone the new ones
/// can be added. The reconciler repairs memberships through this same function.
pub(super) async fn sync_memberships<R: ThingGroupRegistry + Sync, L: ApplyLedger + Sync>(
    thing: &ThingName,
    groups: &[GroupRef],
    tombstones: &Tombstones<'_, L>,
    dr: &R,
    changes: &mut Vec<Change>,
) -> Result<(), ApplyError> {
    let registry = ApplyError::Registry;
    let current = dr.thing_group_names(thing).await.map_err(registry)?;
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
    Ok(())
}
