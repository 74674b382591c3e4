//! Is DR ready to take over? Checks of what failover depends on, each with a verdict and
//! what to do: replication resources in place and encrypted, the fleet's CAs registered in
//! DR, policies equal modulo ARNs, the custom domain configured in both regions, the
//! failover switch (armed or held; its alarm's definition, the health check that follows
//! it, both failover records and their targets), whether the reconciler can cover the
//! fleet at its rate, where each database would be restored and from which source, and
//! the application's topic rules that route alerts in DR.

mod coverage;
mod databases;
mod devices;
mod domains;
mod fleet;
mod registry;
mod replication;
mod rules;
mod switch;

use dr_core::port::PortError;
use dr_core::report::{Detail, Figure, Report, Section};
use dr_core::{FlipMode, Side, Topology};

use crate::AwsSession;
use coverage::reconcile_coverage;
use databases::{database_parameter, restore_networks, restore_sources};
use devices::{provisioning_templates, role_aliases, thing_groups};
use domains::domain_configurations;
use fleet::fleet_checks;
use registry::{certificate_authorities, policies};
use replication::replication_resources;
use switch::{automatic_failover, failover_health_check, failover_records, serving_alarm};

/// A check's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Ready.
    Ok,
    /// Works, but look at it.
    Warn,
    /// Failover would not work as designed.
    Fail,
    /// Primary could not be read, so DR could not be compared with it. Not DR's fault: "is
    /// DR ready?" is asked exactly when primary may be down, and DR's own verdicts stand.
    Unknown,
}

impl Verdict {
    /// How a person reads it (failing verdicts in capitals, to stand out).
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Warn => "warn",
            Verdict::Fail => "FAIL",
            Verdict::Unknown => "UNKNOWN",
        }
    }
}

/// One check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// What was checked.
    pub name: String,
    /// The verdict.
    pub verdict: Verdict,
    /// What was found, and what to do when it is not OK.
    pub detail: String,
}

fn check(name: &str, verdict: Verdict, detail: impl Into<String>) -> Check {
    Check {
        name: name.to_owned(),
        verdict,
        detail: detail.into(),
    }
}

/// A check that could not read `side`. Primary unreadable (no answer, or an error other
/// than a refusal by IAM) is [`Verdict::Unknown`]: the comparison could not be made, which
/// during an outage is expected. DR unreadable, or any refusal by IAM, fails: that is DR's
/// (or the roles') own problem.
fn unreadable(name: &str, side: Side, topology: &Topology, error: &PortError) -> Check {
    let place = format!("{side} {}", topology.side(side).region);
    if side == Side::Primary && !error.access_denied() {
        let why = match error.no_answer {
            Some(_) => "unreachable".to_owned(),
            None => format!("could not be read ({error})"),
        };
        return check(
            name,
            Verdict::Unknown,
            format!("{place} {why}: DR not compared with it"),
        );
    }
    check(
        name,
        Verdict::Fail,
        format!("could not read {place}: {error}"),
    )
}

/// Every check's verdict: the use case of `drctl readiness`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness {
    /// The checks, in a stable order.
    pub checks: Vec<Check>,
}

impl Readiness {
    /// How many checks reached `verdict`.
    pub fn count(&self, verdict: Verdict) -> usize {
        self.checks.iter().filter(|c| c.verdict == verdict).count()
    }
}

impl Report for Readiness {
    fn sections(&self) -> Vec<Section> {
        vec![Section::top()
            .figure(Figure::count("Ok", self.count(Verdict::Ok) as u64))
            .figure(Figure::count("Warn", self.count(Verdict::Warn) as u64))
            .figure(Figure::count("Fail", self.count(Verdict::Fail) as u64))
            .figure(Figure::count(
                "Unknown",
                self.count(Verdict::Unknown) as u64,
            ))
            .details(self.checks.iter().map(|c| {
                Detail::new(
                    c.verdict.label(),
                    &c.name,
                    format!("{}: {}", c.name, c.detail),
                )
            }))]
    }
}

/// Run every check, all at once: with a side unreachable, each of its checks ends after one
/// operation timeout, together rather than one after another.
pub async fn readiness(session: &AwsSession, topology: &Topology) -> Readiness {
    Readiness {
        checks: check_all(session, topology).await,
    }
}

/// Each check's future is boxed: held inline, the join's future (every check's state at
/// once) is built on the stack and overflows a 2 MiB thread's in a debug build.
async fn check_all(session: &AwsSession, topology: &Topology) -> Vec<Check> {
    let (
        replication,
        cas,
        policies,
        device_setup,
        [primary_domain, dr_domain],
        alarm,
        coverage,
        network,
        fleet,
        rules,
    ) = tokio::join!(
        Box::pin(replication_resources(session, topology)),
        Box::pin(certificate_authorities(session, topology)),
        Box::pin(policies(session, topology)),
        Box::pin(async {
            let (groups, aliases, templates) = tokio::join!(
                thing_groups(session, topology),
                role_aliases(session, topology),
                provisioning_templates(session, topology)
            );
            [groups, aliases, templates]
        }),
        Box::pin(domain_configurations(session, topology)),
        Box::pin(async {
            let (armed, records) = tokio::join!(
                automatic_failover(session, topology),
                failover_records(session, topology)
            );
            if topology.failover.flip == FlipMode::DataPlane {
                let (alarm, health_check) = tokio::join!(
                    serving_alarm(session, topology),
                    failover_health_check(session, topology)
                );
                vec![armed, alarm, health_check, records]
            } else {
                vec![armed, records]
            }
        }),
        Box::pin(reconcile_coverage(session, topology)),
        Box::pin(async {
            let (networks, sources, parameter) = tokio::join!(
                restore_networks(session, topology),
                restore_sources(session, topology),
                database_parameter(session, topology)
            );
            networks
                .into_iter()
                .chain(sources)
                .chain([parameter])
                .collect::<Vec<_>>()
        }),
        Box::pin(fleet_checks(session, topology)),
        Box::pin(rules::topic_rules(session, topology)),
    );
    let mut checks = replication;
    checks.extend([cas, policies]);
    checks.extend(device_setup);
    checks.extend([primary_domain, dr_domain]);
    checks.extend(alarm);
    checks.push(coverage);
    checks.extend(fleet);
    checks.extend(network);
    checks.push(rules);
    checks
}

impl Verdict {
    /// The worse of the two (what could not be known ranks below what failed).
    fn max_with(self, other: Verdict) -> Verdict {
        let rank = |v: Verdict| match v {
            Verdict::Ok => 0,
            Verdict::Warn => 1,
            Verdict::Unknown => 2,
            Verdict::Fail => 3,
        };
        if rank(other) > rank(self) {
            other
        } else {
            self
        }
    }
}
