//! What a reconcile pass needs from the outside world: registries that list their
//! certificates a page at a time; and the errors that stop a run.

use std::future::Future;

use crate::certificate::{CertificateId, CertificateStatus};
use crate::port::PortError;
use crate::replication::ports::{ApplyLedger, LedgerEntry, Recorded};

/// One page of a registry's certificate listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CertificatePage {
    /// The certificates on the page with their status, in the listing's order.
    pub certificates: Vec<(CertificateId, CertificateStatus)>,
    /// Where the next page starts; `None` on the last page.
    pub next_marker: Option<String>,
}

/// Which end of the listing comes first (ListCertificates orders by creation date).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ListOrder {
    /// Oldest first: the order in which DR receives certificates (the status tier's join).
    #[default]
    OldestFirst,
    /// Newest first: the deep tier reaches recent registrations (the likeliest to have
    /// drifted) before the old fleet.
    NewestFirst,
}

/// A registry that can list its certificates a page at a time.
pub trait CertificateLister {
    /// The page starting at `marker` (`None`: the first page), at most `page_size` long,
    /// in `order`; a marker belongs to the order it was given in.
    fn certificate_page(
        &self,
        marker: Option<&str>,
        page_size: u32,
        order: ListOrder,
    ) -> impl Future<Output = Result<CertificatePage, PortError>> + Send;
}

/// How many certificates `lister` holds, by status: the whole listing, a page at a time
/// (one call per [`MAX_PAGE_SIZE`] certificates).
pub async fn count_by_status<L: CertificateLister + Sync>(
    lister: &L,
) -> Result<std::collections::BTreeMap<CertificateStatus, u64>, PortError> {
    let mut counts = std::collections::BTreeMap::new();
    let mut marker = None;
    loop {
        let page = lister
            .certificate_page(marker.as_deref(), MAX_PAGE_SIZE, ListOrder::OldestFirst)
            .await?;
        for (_, status) in page.certificates {
            *counts.entry(status).or_default() += 1;
        }
        marker = page.next_marker;
        if marker.is_none() {
            return Ok(counts);
        }
    }
}

/// The ledger for a direction that keeps none (failback writes to primary, whose state
/// is being rebuilt): every repair applies.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoLedger;

impl ApplyLedger for NoLedger {
    async fn entry(&self, _key: &str) -> Result<Option<LedgerEntry>, PortError> {
        Ok(None)
    }

    async fn record(&self, _key: &str, _entry: LedgerEntry) -> Result<Recorded, PortError> {
        Ok(Recorded::Recorded)
    }
}

/// Why a run could not go on.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// The source registry could not be read — during an outage of primary, the signal
    /// operators need ("primary unreachable"), distinct from drift.
    #[error("cannot read the source registry: {0}")]
    SourceUnreachable(#[source] PortError),
    /// The target registry could not be read.
    #[error("cannot read the target registry: {0}")]
    TargetUnreachable(#[source] PortError),
    /// The checkpoint could not be read or written.
    #[error("cannot read or write the reconcile checkpoint: {0}")]
    Checkpoint(#[source] PortError),
    /// Another reconciler saved the checkpoint since this one read it: it owns the pass.
    #[error(
        "another reconciler is walking this pass (checkpoint version moved past {0}); stopping"
    )]
    Fenced(u64),
}

/// How many drifts a report keeps verbatim.
pub const REPORTED_DRIFTS: usize = 20;

/// ListCertificates' largest page.
pub const MAX_PAGE_SIZE: u32 = 250;
