//! The decision function: observed snapshots in, the next actions out. Pure, so every
//! situation — a crash between steps, clock skew, missing tags — is a table test.

use std::collections::BTreeMap;

use super::{
    Location, Snapshot, SnapshotPolicy, SnapshotState, TAG_DATABASE, TAG_MANAGED,
    TAG_SOURCE_SNAPSHOT, TAG_SOURCE_TIME,
};
use crate::time::EpochMillis;

/// One step towards the desired state. Every action is idempotent: targets are named after
/// their source, so a repeated copy meets "already exists", which the adapter treats as done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Snapshot the database in primary.
    CreateSource {
        /// The new snapshot's id.
        snapshot_id: String,
        /// Tags marking it ours.
        tags: BTreeMap<String, String>,
    },
    /// Copy a source snapshot to the DR region, re-encrypted with primary's key there.
    CopyToRegional {
        /// The source snapshot's ARN.
        source_arn: String,
        /// The copy's id.
        target_id: String,
        /// Primary's customer-managed key in the DR region.
        kms_key: String,
        /// Tags linking the copy to its source.
        tags: BTreeMap<String, String>,
    },
    /// Let the DR account restore (and so copy) the regional copy.
    ShareWithDr {
        /// The regional copy's id.
        snapshot_id: String,
        /// The DR account.
        account: String,
    },
    /// DR copies the shared regional copy into a snapshot of its own, under its own key.
    CopyToDr {
        /// The regional copy's ARN.
        source_arn: String,
        /// DR's copy's id.
        target_id: String,
        /// DR's key.
        kms_key: String,
        /// Tags linking the copy to its source.
        tags: BTreeMap<String, String>,
    },
    /// Delete a snapshot beyond retention, or a failed one.
    Delete {
        /// Where it is.
        location: Location,
        /// Its id.
        snapshot_id: String,
        /// Why, for the log.
        reason: String,
    },
}

/// Why the pipeline cannot progress now. Each says what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Blocked {
    /// A snapshot encrypted with the AWS-managed `aws/rds` key cannot be shared.
    #[error(
        "snapshot {snapshot_id} is encrypted with the AWS-managed aws/rds key, which cannot be \
         shared with another account; encrypt the database with a customer-managed KMS key \
         (restore it from a snapshot copied with one), then the next snapshot can travel"
    )]
    AwsManagedKey {
        /// The snapshot.
        snapshot_id: String,
    },
    /// Too many copies are landing in the DR region already; waiting, not failing.
    #[error("{in_flight} snapshot copies already in flight into the DR region (quota {quota}); waiting for them to finish")]
    CopyQuota {
        /// Copies in flight.
        in_flight: usize,
        /// The quota.
        quota: usize,
    },
}

/// What one tick should do, and what it saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Actions, in order.
    pub actions: Vec<Action>,
    /// Why progress is held up, if it is.
    pub blocked: Vec<Blocked>,
    /// now − source time of the newest restorable DR snapshot.
    pub rpo_ms: Option<EpochMillis>,
    /// The newest restorable DR snapshot.
    pub newest_restorable: Option<String>,
    /// Copies landing in the DR region right now.
    pub copies_in_flight: usize,
}

/// Decide the next actions for one database from what is observed now.
pub fn decide(now: EpochMillis, policy: &SnapshotPolicy, observed: &[Snapshot]) -> Plan {
    let ours = |location: Location| -> Vec<&Snapshot> {
        let mut snapshots: Vec<&Snapshot> = observed
            .iter()
            .filter(|s| {
                s.location == location
                    && s.managed()
                    && s.tags.get(TAG_DATABASE) == Some(&policy.database)
            })
            .collect();
        // Newest first; ties broken by id so the order never depends on listing order.
        snapshots.sort_by(|a, b| b.created_ms.cmp(&a.created_ms).then(b.id.cmp(&a.id)));
        snapshots
    };
    let (sources, regional, dr) = (
        ours(Location::Source),
        ours(Location::Regional),
        ours(Location::Dr),
    );
    let mut plan = Plan {
        copies_in_flight: regional
            .iter()
            .chain(&dr)
            .filter(|s| s.state == SnapshotState::InProgress)
            .count(),
        ..Plan::default()
    };
    // A clock ahead of ours must not make snapshots look older (or younger) than zero.
    let age = |s: &Snapshot| (now - s.created_ms).max(0);
    let mut copy_budget = policy
        .max_copies_in_flight
        .saturating_sub(plan.copies_in_flight);

    // 1. A fresh source snapshot when the newest is older than the interval.
    let creating = sources.iter().any(|s| s.state == SnapshotState::InProgress);
    let due = sources
        .iter()
        .find(|s| s.state != SnapshotState::Failed)
        .is_none_or(|s| age(s) >= policy.interval_ms);
    if due && !creating {
        plan.actions.push(Action::CreateSource {
            snapshot_id: format!("{}-dr-{now}", policy.database),
            tags: tags(&policy.database, None),
        });
    }

    // 2. The newest available source travels to the DR region, re-encrypted.
    let newest_source = sources.iter().find(|s| s.state == SnapshotState::Available);
    if let Some(source) = newest_source {
        let copied = regional.iter().any(|s| s.source_id() == Some(&source.id));
        if source.aws_managed_key {
            plan.blocked.push(Blocked::AwsManagedKey {
                snapshot_id: source.id.clone(),
            });
        } else if !copied {
            if copy_budget == 0 {
                plan.blocked.push(quota(&plan, policy));
            } else {
                copy_budget -= 1;
                plan.actions.push(Action::CopyToRegional {
                    source_arn: source.arn.clone(),
                    target_id: source.id.clone(),
                    kms_key: policy.regional_kms_key.clone(),
                    tags: tags(&policy.database, Some(source)),
                });
            }
        }
    }

    // 3. The newest available regional copy is shared with DR and copied by DR.
    if let Some(copy) = regional
        .iter()
        .find(|s| s.state == SnapshotState::Available)
    {
        let source_id = copy.source_id().unwrap_or(&copy.id).to_owned();
        let in_dr = dr.iter().any(|s| s.source_id() == Some(source_id.as_str()));
        if !in_dr {
            if !copy.shared_with.contains(&policy.dr_account) {
                plan.actions.push(Action::ShareWithDr {
                    snapshot_id: copy.id.clone(),
                    account: policy.dr_account.clone(),
                });
            }
            if copy_budget == 0 {
                plan.blocked.push(quota(&plan, policy));
            } else {
                let mut copy_tags = copy.tags.clone();
                copy_tags.insert(TAG_MANAGED.to_owned(), "true".to_owned());
                plan.actions.push(Action::CopyToDr {
                    source_arn: copy.arn.clone(),
                    target_id: source_id,
                    kms_key: policy.dr_kms_key.clone(),
                    tags: copy_tags,
                });
            }
        }
    }

    // 4. The RPO: how old the newest restorable DR snapshot's data is.
    let restorable = dr
        .iter()
        .find(|s| s.state == SnapshotState::Available && s.source_time_ms().is_some());
    if let Some(newest) = restorable {
        plan.newest_restorable = Some(newest.id.clone());
        plan.rpo_ms = newest.source_time_ms().map(|t| (now - t).max(0));
    }

    // 5. Retention on each side. Never in-progress snapshots, never the newest available
    //    on a side (it is what the next step or a restore needs), never unmanaged ones.
    for snapshots in [&sources, &regional, &dr] {
        let newest_available = snapshots
            .iter()
            .find(|s| s.state == SnapshotState::Available);
        for (index, snapshot) in snapshots.iter().enumerate() {
            let protected = snapshot.state == SnapshotState::InProgress
                || newest_available.is_some_and(|n| n.id == snapshot.id);
            if protected {
                continue;
            }
            let reason = if snapshot.state == SnapshotState::Failed {
                "failed".to_owned()
            } else if index >= policy.keep_count {
                format!("beyond the newest {}", policy.keep_count)
            } else if age(snapshot) > policy.max_age_ms {
                format!("older than {} h", policy.max_age_ms / 3_600_000)
            } else {
                continue;
            };
            plan.actions.push(Action::Delete {
                location: snapshot.location,
                snapshot_id: snapshot.id.clone(),
                reason,
            });
        }
    }
    plan
}

fn quota(plan: &Plan, policy: &SnapshotPolicy) -> Blocked {
    Blocked::CopyQuota {
        in_flight: plan.copies_in_flight,
        quota: policy.max_copies_in_flight,
    }
}

/// Tags of a snapshot of `database`; copies also carry their source's id and time.
fn tags(database: &str, source: Option<&Snapshot>) -> BTreeMap<String, String> {
    let mut tags = BTreeMap::from([
        (TAG_MANAGED.to_owned(), "true".to_owned()),
        (TAG_DATABASE.to_owned(), database.to_owned()),
    ]);
    if let Some(source) = source {
        tags.insert(TAG_SOURCE_SNAPSHOT.to_owned(), source.id.clone());
        tags.insert(TAG_SOURCE_TIME.to_owned(), source.created_ms.to_string());
    }
    tags
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: EpochMillis = 3_600_000;
    const NOW: EpochMillis = 1_000 * HOUR;

    fn policy() -> SnapshotPolicy {
        SnapshotPolicy {
            database: "fleetdb".to_owned(),
            interval_ms: 4 * HOUR,
            keep_count: 3,
            max_age_ms: 72 * HOUR,
            regional_kms_key: "arn:aws:kms:us-west-2:111111111111:key/regional".to_owned(),
            dr_kms_key: "arn:aws:kms:us-west-2:222222222222:key/dr".to_owned(),
            dr_account: "222222222222".to_owned(),
            max_copies_in_flight: 20,
            restore: crate::snapshots::RestoreSettings::default(),
            backup_replication: None,
            global_secondary: None,
        }
    }

    /// A managed snapshot `hours_ago` old at `location`, descending from source `source`.
    fn snap(location: Location, source: &str, hours_ago: i64, state: SnapshotState) -> Snapshot {
        let created = NOW - hours_ago * HOUR;
        let mut tags = BTreeMap::from([
            (TAG_MANAGED.to_owned(), "true".to_owned()),
            (TAG_DATABASE.to_owned(), "fleetdb".to_owned()),
        ]);
        if location != Location::Source {
            tags.insert(TAG_SOURCE_SNAPSHOT.to_owned(), source.to_owned());
            tags.insert(TAG_SOURCE_TIME.to_owned(), (created - HOUR).to_string());
        }
        Snapshot {
            id: source.to_owned(),
            arn: format!("arn:aws:rds:region:account:snapshot:{source}:{location:?}"),
            location,
            state,
            created_ms: created,
            tags,
            kms_key_id: Some("key".to_owned()),
            aws_managed_key: false,
            shared_with: Vec::new(),
        }
    }

    fn kinds(plan: &Plan) -> Vec<&'static str> {
        plan.actions
            .iter()
            .map(|a| match a {
                Action::CreateSource { .. } => "create",
                Action::CopyToRegional { .. } => "copy-regional",
                Action::ShareWithDr { .. } => "share",
                Action::CopyToDr { .. } => "copy-dr",
                Action::Delete { .. } => "delete",
            })
            .collect()
    }

    use Location::{Dr, Regional, Source};
    use SnapshotState::{Available, Failed, InProgress};

    #[test]
    fn the_pipeline_advances_one_stage_per_observation() {
        let shared = |mut s: Snapshot| {
            s.shared_with.push("222222222222".to_owned());
            s
        };
        let table: Vec<(&str, Vec<Snapshot>, Vec<&str>)> = vec![
            ("nothing yet", vec![], vec!["create"]),
            (
                "source creating",
                vec![snap(Source, "a", 0, InProgress)],
                vec![],
            ),
            (
                "source available",
                vec![snap(Source, "a", 1, Available)],
                vec!["copy-regional"],
            ),
            (
                "regional copying",
                vec![
                    snap(Source, "a", 1, Available),
                    snap(Regional, "a", 0, InProgress),
                ],
                vec![],
            ),
            (
                "regional available, not shared",
                vec![
                    snap(Source, "a", 1, Available),
                    snap(Regional, "a", 0, Available),
                ],
                vec!["share", "copy-dr"],
            ),
            (
                "crashed after sharing",
                vec![
                    snap(Source, "a", 1, Available),
                    shared(snap(Regional, "a", 0, Available)),
                ],
                vec!["copy-dr"],
            ),
            (
                "dr copying",
                vec![
                    snap(Source, "a", 1, Available),
                    shared(snap(Regional, "a", 0, Available)),
                    snap(Dr, "a", 0, InProgress),
                ],
                vec![],
            ),
            (
                "steady state",
                vec![
                    snap(Source, "a", 1, Available),
                    shared(snap(Regional, "a", 1, Available)),
                    snap(Dr, "a", 1, Available),
                ],
                vec![],
            ),
            (
                "interval elapsed",
                vec![
                    snap(Source, "a", 5, Available),
                    shared(snap(Regional, "a", 5, Available)),
                    snap(Dr, "a", 5, Available),
                ],
                vec!["create"],
            ),
        ];
        for (case, observed, expected) in table {
            assert_eq!(
                kinds(&decide(NOW, &policy(), &observed)),
                expected,
                "{case}"
            );
        }
    }

    #[test]
    fn rpo_is_measured_from_the_source_time_of_the_newest_restorable_dr_snapshot() {
        let observed = vec![
            snap(Dr, "old", 10, Available),
            snap(Dr, "new", 2, Available),
            snap(Dr, "newest", 0, InProgress),
        ];
        let plan = decide(NOW, &policy(), &observed);
        assert_eq!(plan.newest_restorable.as_deref(), Some("new"));
        assert_eq!(
            plan.rpo_ms,
            Some(3 * HOUR),
            "2 h since the copy, 1 h more since its source"
        );
        assert_eq!(decide(NOW, &policy(), &[]).rpo_ms, None);
    }

    #[test]
    fn retention_keeps_n_per_side_and_always_the_newest_restorable() {
        let mut observed: Vec<Snapshot> = (0..6)
            .map(|i| snap(Dr, &format!("s{i}"), i * 5, Available))
            .collect();
        // An unmanaged snapshot is never ours to delete, however old.
        let mut foreign = snap(Dr, "operator-manual", 500, Available);
        foreign.tags.clear();
        observed.push(foreign);
        let plan = decide(NOW, &policy(), &observed);
        let deleted: Vec<_> = plan
            .actions
            .iter()
            .filter_map(|a| match a {
                Action::Delete { snapshot_id, .. } => Some(snapshot_id.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(deleted, ["s3", "s4", "s5"]);

        // All of DR's snapshots are past the maximum age: the newest restorable stays.
        let stale: Vec<_> = (0..3)
            .map(|i| snap(Dr, &format!("t{i}"), 100 + i, Available))
            .collect();
        let plan = decide(NOW, &policy(), &stale);
        let kept: Vec<_> = stale
            .iter()
            .filter(|s| {
                !plan.actions.iter().any(
                    |a| matches!(a, Action::Delete { snapshot_id, .. } if snapshot_id == &s.id),
                )
            })
            .map(|s| s.id.as_str())
            .collect();
        assert_eq!(kept, ["t0"]);
    }

    #[test]
    fn failed_snapshots_are_cleaned_and_do_not_count_as_recent() {
        let observed = vec![
            snap(Source, "broken", 0, Failed),
            snap(Source, "old", 10, Available),
        ];
        let plan = decide(NOW, &policy(), &observed);
        assert!(
            kinds(&plan).contains(&"create"),
            "a failed snapshot is not a fresh one"
        );
        assert!(plan.actions.contains(&Action::Delete {
            location: Source,
            snapshot_id: "broken".to_owned(),
            reason: "failed".to_owned()
        }));
    }

    #[test]
    fn the_aws_managed_key_blocks_with_the_fix_and_the_quota_waits() {
        let mut source = snap(Source, "a", 1, Available);
        source.aws_managed_key = true;
        let plan = decide(NOW, &policy(), &[source]);
        assert!(!kinds(&plan).contains(&"copy-regional"));
        assert!(plan.blocked[0]
            .to_string()
            .contains("customer-managed KMS key"));

        let mut busy: Vec<Snapshot> = (0..20)
            .map(|i| snap(Regional, &format!("other{i}"), 0, InProgress))
            .collect();
        busy.push(snap(Source, "a", 1, Available));
        let plan = decide(NOW, &policy(), &busy);
        assert!(!kinds(&plan).contains(&"copy-regional"));
        assert!(matches!(
            plan.blocked[0],
            Blocked::CopyQuota {
                in_flight: 20,
                quota: 20
            }
        ));
    }

    #[test]
    fn clock_skew_and_missing_tags_are_harmless() {
        // A snapshot stamped an hour in the future: not "due", and not negative RPO.
        let mut future = snap(Dr, "f", -1, Available);
        future
            .tags
            .insert(TAG_SOURCE_TIME.to_owned(), (NOW + HOUR).to_string());
        let plan = decide(NOW, &policy(), &[snap(Source, "f", -1, Available), future]);
        assert!(!kinds(&plan).contains(&"create"));
        assert_eq!(plan.rpo_ms, Some(0));

        // A DR copy that lost its source-time tag is not counted as restorable data of known age.
        let mut untimed = snap(Dr, "u", 1, Available);
        untimed.tags.remove(TAG_SOURCE_TIME);
        assert_eq!(decide(NOW, &policy(), &[untimed]).rpo_ms, None);

        // Another database's snapshots are invisible to this one's controller.
        let mut other = snap(Source, "x", 1, Available);
        other
            .tags
            .insert(TAG_DATABASE.to_owned(), "billing".to_owned());
        assert_eq!(kinds(&decide(NOW, &policy(), &[other])), ["create"]);
    }
}
