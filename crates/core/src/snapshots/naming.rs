//! One restore per runbook: the name a failover restores a database into, derived from
//! the database and the runbook, and the tags that say whose it is and what it holds.
//!
//! Restoring under the protected database's own name made a second failover find the first
//! one's database ("already exists" is success) and announce month-old data as fresh. A
//! name per runbook makes every failover restore anew; the tags make a database of that
//! name that is not this runbook's recognisable, so it is refused loudly, never adopted.

use std::collections::BTreeMap;

use super::RestoreSource;

/// The runbook a restored database belongs to (its id, e.g. `failover-1800000000000`).
pub const TAG_RUNBOOK: &str = "dr:runbook";
/// What it was restored from: the DR snapshot's id, the replicated backups' ARN or (a
/// promoted global secondary) the secondary cluster's own ARN.
pub const TAG_RESTORE_SOURCE: &str = "dr:restore-source";
/// When its data was current (epoch ms): the source snapshot's time, or the backups'
/// latest restorable time.
pub const TAG_DATA_TIME: &str = "dr:data-time";

/// RDS's longest DB instance or cluster identifier.
pub const RDS_IDENTIFIER_MAX: usize = 63;
/// Room kept for an Aurora cluster's instance suffix (`-1` … `-15`: RDS allows 15 readers).
const MEMBER_SUFFIX: usize = 3;

/// A target name RDS would refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot restore into {name:?}: {why}")]
pub struct InvalidTarget {
    /// The name.
    pub name: String,
    /// Which rule it breaks.
    pub why: String,
}

/// The database a failover runbook restores `database` into: `<database>-<runbook>` in RDS's
/// lower case, e.g. `fleetdb-failover-1800000000000`. Deterministic, so every invocation of
/// the runbook (and an operator reading the notes) finds the same one; checked against RDS's
/// identifier rules with room for a cluster's `-<n>` instances.
pub fn failover_target(database: &str, runbook: &str) -> Result<String, InvalidTarget> {
    let runbook: String = runbook
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let name = format!("{}-{runbook}", database.to_ascii_lowercase());
    check_identifier(&name, RDS_IDENTIFIER_MAX - MEMBER_SUFFIX)?;
    Ok(name)
}

/// RDS's rules for a DB instance or cluster identifier: 1 to `max` letters, digits or
/// hyphens, a letter first, no two hyphens in a row, no hyphen last.
pub fn check_identifier(name: &str, max: usize) -> Result<(), InvalidTarget> {
    let broken = |why: String| {
        Err(InvalidTarget {
            name: name.to_owned(),
            why,
        })
    };
    if name.is_empty() || name.len() > max {
        return broken(format!(
            "{} characters; RDS identifiers here are 1 to {max} (63, less room for a cluster's instance suffix)",
            name.len()
        ));
    }
    if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return broken("must start with a letter".to_owned());
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
    {
        return broken(format!("{bad:?} is not a letter, digit or hyphen"));
    }
    if name.contains("--") || name.ends_with('-') {
        return broken("no two hyphens in a row, no hyphen at the end".to_owned());
    }
    Ok(())
}

/// The tags of a database `runbook` restores from `source`.
pub fn restore_tags(runbook: &str, source: &RestoreSource) -> Vec<(String, String)> {
    let from = match source {
        RestoreSource::SnapshotCopy { snapshot_id, .. } => snapshot_id,
        RestoreSource::ReplicatedBackups { arn, .. }
        | RestoreSource::GlobalSecondary { arn, .. } => arn,
    };
    vec![
        (TAG_RUNBOOK.to_owned(), runbook.to_owned()),
        (TAG_RESTORE_SOURCE.to_owned(), from.clone()),
        (TAG_DATA_TIME.to_owned(), source.data_ms().to_string()),
    ]
}

/// Whose a database is, by its tags: `Ok(())` if `runbook`'s, else the owner it names.
pub fn owned_by(tags: &BTreeMap<String, String>, runbook: &str) -> Result<(), String> {
    match tags.get(TAG_RUNBOOK) {
        Some(owner) if owner == runbook => Ok(()),
        Some(owner) => Err(format!("{TAG_RUNBOOK}={owner}")),
        None => Err(format!("no {TAG_RUNBOOK} tag")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_runbook_s_target_is_the_database_and_the_runbook_within_rds_s_rules() {
        assert_eq!(
            failover_target("fleetdb", "failover-1800000000000").unwrap(),
            "fleetdb-failover-1800000000000"
        );
        assert_eq!(
            failover_target("FleetDB", "Failover_1").unwrap(),
            "fleetdb-failover-1"
        );
        // 37 characters is the longest database a failover can restore with a cluster's
        // instance suffix to spare.
        let long = "a".repeat(37);
        let target = failover_target(&long, "failover-1800000000000").unwrap();
        assert_eq!(target.len() + "-15".len(), RDS_IDENTIFIER_MAX);
        let error = failover_target(&"a".repeat(38), "failover-1800000000000").unwrap_err();
        assert!(error.why.contains("63"), "{error}");
        for bad in ["1db", "db--x", "db-", "db_x", ""] {
            assert!(check_identifier(bad, 63).is_err(), "{bad}");
        }
        assert!(failover_target("db-", "failover-1").is_err());
    }

    #[test]
    fn a_database_is_the_runbook_s_only_when_its_tag_names_the_runbook() {
        let source = RestoreSource::SnapshotCopy {
            snapshot_id: "fleetdb-dr-1".to_owned(),
            data_ms: 42,
        };
        let tags: BTreeMap<_, _> = restore_tags("failover-2", &source).into_iter().collect();
        assert_eq!(tags[TAG_DATA_TIME], "42");
        assert_eq!(tags[TAG_RESTORE_SOURCE], "fleetdb-dr-1");
        assert!(owned_by(&tags, "failover-2").is_ok());
        assert_eq!(
            owned_by(&tags, "failover-3").unwrap_err(),
            "dr:runbook=failover-2"
        );
        assert!(owned_by(&BTreeMap::new(), "failover-3").is_err());
    }
}
