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
