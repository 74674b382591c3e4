//! Whether the reconciler can cover the fleet at its rate.

use dr_core::reconcile::count_by_status;
use dr_core::{Side, Topology};

use super::{check, unreadable, Check, Verdict};
use crate::iot::IotRegistry;
use crate::AwsSession;

/// The fleet against the IoT control-plane budget (`[reconcile] max_calls_per_second`, the
/// share of the account's IoT API quota the control plane may use): a status pass costs one
/// listing call per page per side (both at once), a deep pass about 3 calls per certificate
/// per side; rebuilding DR's registry from scratch (a lost or
/// new DR account) about 4 DR calls per certificate (register, thing, attach thing, attach
/// policy — measured by the replication benchmark).
pub(super) async fn reconcile_coverage(session: &AwsSession, topology: &Topology) -> Check {
    const NAME: &str = "IoT quota vs fleet";
    let primary = IotRegistry::for_side(session, topology, Side::Primary);
    let fleet: u64 = match count_by_status(&primary).await {
        Ok(counts) => counts.values().sum(),
        Err(e) => return unreadable(NAME, Side::Primary, topology, &e),
    };
    let rate = topology.reconcile.max_calls_per_second;
    let hours = |calls_per_certificate: f64| fleet as f64 * calls_per_certificate / rate / 3600.0;
    let human = |hours: f64| dr_core::time::human((hours * 3_600_000.0) as i64);
    // The status tier lists both sides at once: one call per page per side.
    let page = f64::from(topology.reconcile.page_size);
    let status_minutes = (fleet as f64 / page).ceil().max(1.0) / rate / 60.0;
    let every = topology.reconcile.status_pass_every_minutes;
    let (deep, rebuild) = (hours(3.0), hours(4.0));
    let detail = format!(
        "{fleet} certificates at {rate} IoT calls/s: a status pass (ids and statuses) takes about \
         {}, every {every} min; a deep pass (things, policies) about {}; rebuilding DR's \
         registry about {}",
        human(status_minutes / 60.0),
        human(deep),
        human(rebuild)
    );
    if status_minutes > f64::from(every) || status_minutes > 12.0 {
        check(NAME, Verdict::Fail, format!("{detail}: the status pass cannot finish in its interval or in one invocation (15 min with a margin); ask for a higher IoT quota and raise the rate"))
    } else if deep > 24.0 || rebuild > 24.0 {
        check(NAME, Verdict::Warn, format!("{detail}: over a day; revocations and missing certificates are still found by the status pass, but for a faster deep pass or rebuild ask for a higher IoT quota and raise the rate"))
    } else {
        check(NAME, Verdict::Ok, detail)
    }
}
