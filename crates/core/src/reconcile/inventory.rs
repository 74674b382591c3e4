//! A certificate as one registry has it, reduced to what the deep tier's diff compares:
//! status, things (with how they are attached), and each attached policy with a digest of its document.

use std::collections::HashMap;

use super::diff::{InventoryEntry, PolicyDigest};
use crate::certificate::{CertificateId, CertificateStatus};
use crate::ids::{AccountId, PolicyName, Region};
use crate::port::PortError;
use crate::replication::ports::CertificateRegistry;

/// Policy digests read in this run: the source's, the target's.
pub(super) type DigestCaches = (
    HashMap<PolicyName, Option<PolicyDigest>>,
    HashMap<PolicyName, Option<PolicyDigest>>,
);

/// A certificate as `registry` has it, reduced to what the diff compares; `None` if the
/// registry has no such certificate. `listed_status` saves a read when a listing gave it.
/// `digests` caches policy digests for one run: a fleet shares a handful of policies, so
/// reading each document once per certificate would double the calls (a document edited
/// mid-run is compared at the next run).
pub(super) async fn entry_of<R: CertificateRegistry + Sync>(
    registry: &R,
    digests: &mut HashMap<PolicyName, Option<PolicyDigest>>,
    id: CertificateId,
    listed_status: Option<CertificateStatus>,
    account: &AccountId,
    region: &Region,
) -> Result<Option<InventoryEntry>, PortError> {
    let status = match listed_status {
        Some(status) => status,
        None => match registry.certificate(&id).await? {
            Some(view) => view.status,
            None => return Ok(None),
        },
    };
    // With their associations: a device whose client id is not its thing name reaches its
    // thing in DR only through an exclusive association.
    let things = registry
        .certificate_thing_associations(&id)
        .await?
        .into_iter()
        .collect();
    let mut policies = Vec::new();
    for name in registry.certificate_policy_names(&id).await? {
        let digest = match digests.get(&name) {
            Some(digest) => *digest,
            None => {
                let digest = registry
                    .policy(&name)
                    .await?
                    .map(|p| PolicyDigest::of(&p.document, account, region));
                digests.insert(name.clone(), digest);
                digest
            }
        };
        // A policy deleted between the two reads is simply not attached any more.
        if let Some(digest) = digest {
            policies.push((name, digest));
        }
    }
    Ok(Some(InventoryEntry {
        certificate_id: id,
        status,
        things,
        policies,
    }))
}
