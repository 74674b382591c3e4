//! The snapshot store on both kinds of database against the real SDK client and canned
//! answers: each kind calls its own API and reads its own fields, and the same step comes
//! out the same for both.

use aws_sdk_rds::types::Tag;
use aws_smithy_mocks::Rule;
use dr_core::snapshots::{DatabaseKind, TAG_DATABASE};

use super::RdsSnapshotStore;
use crate::testing::{kms, rds};

mod databases;
mod snapshots;

const DATABASE: &str = "fleet-db";
const SNAPSHOT: &str = "dr-fleet-db-1";
const KEY: &str = "arn:aws:kms:us-east-1:111111111111:key/fleet";

/// A store whose three locations all answer by `rules`.
fn store(kind: DatabaseKind, rules: &[&Rule]) -> RdsSnapshotStore {
    let client = rds(rules);
    RdsSnapshotStore::on(kind, client.clone(), client.clone(), client, kms(&[]))
}

fn tags() -> Vec<(String, String)> {
    vec![(TAG_DATABASE.to_owned(), DATABASE.to_owned())]
}

fn has_our_tag(tags: &[Tag]) -> bool {
    tags.iter()
        .any(|t| t.key() == Some(TAG_DATABASE) && t.value() == Some(DATABASE))
}
