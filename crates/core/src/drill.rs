//! What the drill's canary does after DR's endpoint let it in: it follows the device
//! contract's shadow rule (README, "What a device must do to work in DR") — a new
//! connection trusts no shadow version it tracked before and GETs its shadow — and the
//! drill reports the version DR's shadow service answered with.
//!
//! The canary's thing is the one DR's registry attaches to its certificate (the one named
//! by its MQTT client id when several are), as AWS IoT ties a device to its thing.

use std::fmt;

use crate::certificate::CertificateId;
use crate::ids::ThingName;
use crate::port::PortError;
use crate::replication::records::ThingAssociation;
use crate::replication::{CertificateRegistry, ShadowStore};

/// What the canary found of its classic shadow in DR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CanaryShadow {
    /// DR attaches no thing to the canary's certificate: a device without a thing has no
    /// shadow to follow.
    NoThing,
    /// The canary's thing has no classic shadow in DR.
    NoShadow {
        /// The canary's thing.
        thing: ThingName,
    },
    /// DR's shadow service answered the GET.
    Seen {
        /// The canary's thing.
        thing: ThingName,
        /// DR's version of the shadow: DR's own count of writes, not primary's.
        version: u64,
    },
}

impl fmt::Display for CanaryShadow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CanaryShadow::NoThing => {
                write!(
                    f,
                    "no shadow: DR attaches no thing to the canary's certificate"
                )
            }
            CanaryShadow::NoShadow { thing } => {
                write!(f, "no shadow: {thing} has no classic shadow in DR")
            }
            CanaryShadow::Seen { thing, version } => write!(
                f,
                "DR shadow version {version} ({thing}'s classic shadow, GET after CONNACK)"
            ),
        }
    }
}

/// The canary's thing in DR and its classic shadow's version there, read as the contract's
/// device reads it on a new connection: a GET, whatever version it tracked before.
pub async fn canary_shadow<R>(
    dr: &R,
    certificate: &CertificateId,
    client_id: &str,
) -> Result<CanaryShadow, PortError>
where
    R: CertificateRegistry + ShadowStore + Sync,
{
    // The thing AWS associates the connection with: the exclusive one whatever the client
    // id, else the one the client id names (else, for the report, the first attached).
    let links = dr.certificate_thing_associations(certificate).await?;
    let exclusive = links
        .iter()
        .find(|(_, association)| **association == ThingAssociation::Exclusive)
        .map(|(thing, _)| thing);
    let Some(thing) = exclusive
        .or_else(|| links.keys().find(|thing| thing.as_str() == client_id))
        .or_else(|| links.keys().next())
        .cloned()
    else {
        return Ok(CanaryShadow::NoThing);
    };
    Ok(match dr.shadow(&thing, None).await? {
        Some(document) => CanaryShadow::Seen {
            thing,
            version: document.version,
        },
        None => CanaryShadow::NoShadow { thing },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replication::fake::FakeRegistry;
    use crate::replication::shadow::ShadowDocument;

    fn certificate(n: u8) -> CertificateId {
        format!("{n:02x}").repeat(32).parse().unwrap()
    }

    fn dr_with(links: &[(u8, &str)], shadows: &[(&str, u64)]) -> FakeRegistry {
        let dr = FakeRegistry::default();
        {
            let mut world = dr.world.lock().unwrap();
            for (n, thing) in links {
                world.thing_links.insert(
                    (certificate(*n), thing.parse().unwrap()),
                    ThingAssociation::NonExclusive,
                );
            }
            for (thing, version) in shadows {
                let document = ShadowDocument {
                    version: *version,
                    ..ShadowDocument::default()
                };
                world
                    .shadows
                    .insert((thing.parse().unwrap(), None), document);
            }
        }
        dr
    }

    #[tokio::test]
    async fn the_canary_reports_its_things_shadow_version_in_dr() {
        let dr = dr_with(&[(1, "dr-canary")], &[("dr-canary", 3)]);
        let seen = canary_shadow(&dr, &certificate(1), "dr-canary")
            .await
            .unwrap();
        assert_eq!(
            seen,
            CanaryShadow::Seen {
                thing: "dr-canary".parse().unwrap(),
                version: 3
            }
        );
        assert_eq!(
            seen.to_string(),
            "DR shadow version 3 (dr-canary's classic shadow, GET after CONNACK)"
        );
    }

    #[tokio::test]
    async fn of_several_things_the_canary_reads_the_one_its_client_id_names() {
        let dr = dr_with(
            &[(1, "a-bench-rig"), (1, "dr-canary")],
            &[("a-bench-rig", 9), ("dr-canary", 2)],
        );
        let seen = canary_shadow(&dr, &certificate(1), "dr-canary")
            .await
            .unwrap();
        assert!(
            matches!(seen, CanaryShadow::Seen { version: 2, .. }),
            "{seen:?}"
        );
    }

    #[tokio::test]
    async fn a_canary_without_a_thing_or_a_shadow_reports_no_shadow() {
        let dr = dr_with(&[(1, "dr-canary")], &[]);
        let without_shadow = canary_shadow(&dr, &certificate(1), "dr-canary")
            .await
            .unwrap();
        assert_eq!(
            without_shadow.to_string(),
            "no shadow: dr-canary has no classic shadow in DR"
        );
        let without_thing = canary_shadow(&dr, &certificate(2), "dr-canary")
            .await
            .unwrap();
        assert_eq!(without_thing, CanaryShadow::NoThing);
        assert!(without_thing.to_string().starts_with("no shadow: "));
    }

    #[tokio::test]
    async fn an_exclusively_attached_thing_is_the_canary_s_whatever_its_client_id() {
        let dr = dr_with(&[], &[("wearable-7", 5)]);
        dr.world.lock().unwrap().thing_links.insert(
            (certificate(2), "wearable-7".parse().unwrap()),
            ThingAssociation::Exclusive,
        );
        let seen = canary_shadow(&dr, &certificate(2), "wearable-7-app")
            .await
            .unwrap();
        assert_eq!(
            seen,
            CanaryShadow::Seen {
                thing: "wearable-7".parse().unwrap(),
                version: 5
            }
        );
    }
}

/// One objective judged by a drill: what was promised, what was measured (or modelled).
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectiveVerdict {
    /// What is judged, e.g. "RPO".
    pub name: String,
    /// The objective in seconds; `None`: none declared in `[objectives]`.
    pub objective_seconds: Option<u64>,
    /// The figure in seconds; `None`: the drill could not measure it.
    pub seconds: Option<f64>,
}

impl ObjectiveVerdict {
    /// Met, missed, or not judged (no objective): a figure that could not be measured
    /// misses a declared objective (a drill that cannot show its RPO has not shown it met).
    pub fn met(&self) -> Option<bool> {
        let objective = self.objective_seconds? as f64;
        Some(self.seconds.is_some_and(|s| s <= objective))
    }

    /// `pass`, `FAIL` or `no objective`, as reports show it.
    pub fn label(&self) -> &'static str {
        match self.met() {
            Some(true) => "pass",
            Some(false) => "FAIL",
            None => "no objective",
        }
    }
}

/// The drill's verdicts against `[objectives]`: the RTO it measured (start → DNS on DR and
/// the canary connected: the control plane's part), the fleet's RTO the model gives for
/// DR's quotas (the patients' part, which a drill cannot measure on production devices),
/// and the RPO of the data it restored.
pub fn judge_objectives(
    objectives: &crate::config::ObjectivesConfig,
    drill_rto_seconds: f64,
    fleet_rto_seconds: Option<f64>,
    rpo_seconds: Option<f64>,
) -> Vec<ObjectiveVerdict> {
    let verdict = |name: String, objective_seconds, seconds| ObjectiveVerdict {
        name,
        objective_seconds,
        seconds,
    };
    vec![
        verdict(
            "RTO measured (start to DNS on DR and the canary connected)".to_owned(),
            objectives.rto_seconds,
            Some(drill_rto_seconds),
        ),
        verdict(
            format!(
                "RTO of the fleet, modelled ({}% connected in DR)",
                objectives.rto_fleet_percent
            ),
            objectives.rto_seconds,
            fleet_rto_seconds,
        ),
        verdict("RPO".to_owned(), objectives.rpo_seconds, rpo_seconds),
    ]
}

#[cfg(test)]
mod objective_tests {
    use super::*;
    use crate::config::ObjectivesConfig;

    #[test]
    fn each_objective_is_met_missed_or_not_judged_and_an_unmeasured_figure_misses() {
        let objectives = ObjectivesConfig {
            rto_seconds: Some(600),
            rpo_seconds: Some(300),
            rto_fleet_percent: 99,
        };
        let verdicts = judge_objectives(&objectives, 27.5, Some(700.0), None);
        let labels: Vec<_> = verdicts.iter().map(ObjectiveVerdict::label).collect();
        assert_eq!(labels, ["pass", "FAIL", "FAIL"]);
        assert!(verdicts[1].name.contains("99%"));

        let none = judge_objectives(&ObjectivesConfig::default(), 27.5, Some(700.0), Some(5.0));
        assert!(none.iter().all(|v| v.met().is_none()));
    }
}
