//! In-memory registry and ledger for the core's tests: small, and strict where AWS is
//! (no deleting an ACTIVE or attached certificate, no un-revoking).

use crate::port::PortError;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use crate::certificate::{CertificateId, CertificatePem, CertificateStatus};
use crate::ids::{PolicyName, RoleAliasName, TemplateName, ThingGroupName, ThingName};
use crate::replication::arn::ArnRewrite;
use crate::replication::message::SourceRef;
use crate::replication::ports::{
    ApplyLedger, CertificateRegistry, CertificateView, GroupWrite, LedgerEntry,
    ProvisioningTemplateRegistry, Recorded, Registration, RoleAliasRegistry, ShadowStore,
    ThingGroupRegistry, ThingTypeRegistry,
};
use crate::replication::records::{
    CaCertificateRecord, CaCertificateStatus, GroupRef, PolicyRecord, RoleAliasRecord,
    ThingAssociation, ThingGroupRecord, ThingRecord, ThingTypeRecord,
};
use crate::replication::shadow::{apply_patch, ShadowDocument};
use crate::replication::template::ProvisioningTemplateRecord;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct World {
    pub(crate) certificates: BTreeMap<CertificateId, (String, CertificateStatus)>,
    pub(crate) cas: BTreeMap<CertificateId, String>,
    /// CA statuses set since registration (a CA registered in `cas` and absent here is
    /// ACTIVE, auto-registration off).
    pub(crate) ca_settings: BTreeMap<CertificateId, CaCertificateRecord>,
    pub(crate) policies: BTreeMap<PolicyName, String>,
    pub(crate) things: BTreeMap<ThingName, ThingRecord>,
    pub(crate) policy_links: BTreeSet<(CertificateId, PolicyName)>,
    pub(crate) thing_links: BTreeMap<(CertificateId, ThingName), ThingAssociation>,
    /// Groups as stored (their `policies` always empty: attachments live below).
    pub(crate) groups: BTreeMap<ThingGroupName, ThingGroupRecord>,
    pub(crate) group_policies: BTreeSet<(ThingGroupName, PolicyName)>,
    pub(crate) memberships: BTreeSet<(ThingName, ThingGroupName)>,
    pub(crate) role_aliases: BTreeMap<RoleAliasName, RoleAliasRecord>,
    pub(crate) thing_types: BTreeMap<String, ThingTypeRecord>,
    /// Templates as stored (their `policies` always empty).
    pub(crate) templates: BTreeMap<TemplateName, ProvisioningTemplateRecord>,
    pub(crate) shadows: BTreeMap<(ThingName, Option<String>), ShadowDocument>,
    /// The fake shadow service's clock (epoch seconds), for the timestamps it stamps.
    pub(crate) shadow_clock: i64,
}

#[derive(Debug, Default)]
pub(crate) struct FakeRegistry {
    pub(crate) world: Mutex<World>,
    pub(crate) calls: Mutex<usize>,
    /// Listings fail as an unreachable region's would.
    pub(crate) unreachable: std::sync::atomic::AtomicBool,
}

impl FakeRegistry {
    pub(crate) fn snapshot(&self) -> World {
        self.world.lock().unwrap().clone()
    }

    fn with<T>(&self, f: impl FnOnce(&mut World) -> T) -> T {
        *self.calls.lock().unwrap() += 1;
        f(&mut self.world.lock().unwrap())
    }
}

impl CertificateRegistry for FakeRegistry {
    async fn certificate(&self, id: &CertificateId) -> Result<Option<CertificateView>, PortError> {
        Ok(self.with(|w| {
            w.certificates.get(id).map(|(pem, status)| CertificateView {
                pem: pem.clone(),
                status: *status,
                ca_certificate_id: None,
                last_modified_ms: 0,
            })
        }))
    }

    async fn ca_certificate_pem(&self, ca_id: &CertificateId) -> Result<Option<String>, PortError> {
        Ok(self.with(|w| w.cas.get(ca_id).cloned()))
    }

    async fn ca_certificate(
        &self,
        ca_id: &CertificateId,
    ) -> Result<Option<CaCertificateRecord>, PortError> {
        Ok(self.with(|w| {
            w.cas.contains_key(ca_id).then(|| {
                w.ca_settings
                    .get(ca_id)
                    .cloned()
                    .unwrap_or(CaCertificateRecord {
                        ca_certificate_id: ca_id.clone(),
                        status: CaCertificateStatus::Active,
                        auto_registration: false,
                    })
            })
        }))
    }

    async fn set_ca_certificate(&self, ca: &CaCertificateRecord) -> Result<bool, PortError> {
        Ok(self.with(|w| {
            let registered = w.cas.contains_key(&ca.ca_certificate_id);
            if registered {
                w.ca_settings
                    .insert(ca.ca_certificate_id.clone(), ca.clone());
            }
            registered
        }))
    }

    async fn register_certificate(
        &self,
        pem: &CertificatePem,
        _ca_pem: Option<&str>,
        status: CertificateStatus,
    ) -> Result<Registration, PortError> {
        Ok(self.with(|w| {
            if w.certificates.contains_key(pem.id()) {
                Registration::AlreadyExisted
            } else {
                w.certificates
                    .insert(pem.id().clone(), (pem.as_str().to_owned(), status));
                Registration::New
            }
        }))
    }

    async fn set_status(
        &self,
        id: &CertificateId,
        status: CertificateStatus,
    ) -> Result<(), PortError> {
        self.with(|w| match w.certificates.get_mut(id) {
            Some((_, CertificateStatus::Revoked)) if status != CertificateStatus::Revoked => {
                Err(PortError::permanent(
                    "UpdateCertificate",
                    "a revoked certificate cannot change status",
                ))
            }
            Some((_, current)) => {
                *current = status;
                Ok(())
            }
            None => Err(PortError::permanent("UpdateCertificate", "not found")),
        })
    }

    async fn delete_certificate(&self, id: &CertificateId) -> Result<(), PortError> {
        self.with(|w| {
            if w.certificates
                .get(id)
                .is_some_and(|(_, s)| *s == CertificateStatus::Active)
            {
                return Err(PortError::permanent(
                    "DeleteCertificate",
                    "certificate is ACTIVE",
                ));
            }
            if w.thing_links.keys().any(|(c, _)| c == id)
                || w.policy_links.iter().any(|(c, _)| c == id)
            {
                return Err(PortError::permanent(
                    "DeleteCertificate",
                    "certificate is attached",
                ));
            }
            w.certificates.remove(id);
            Ok(())
        })
    }

    async fn certificate_policies(
        &self,
        id: &CertificateId,
    ) -> Result<Vec<PolicyRecord>, PortError> {
        Ok(self.with(|w| {
            w.policy_links
                .iter()
                .filter(|(c, _)| c == id)
                .map(|(_, p)| PolicyRecord {
                    policy_name: p.clone(),
                    document: w.policies[p].clone(),
                })
                .collect()
        }))
    }

    async fn certificate_policy_names(
        &self,
        id: &CertificateId,
    ) -> Result<BTreeSet<PolicyName>, PortError> {
        Ok(self.with(|w| {
            w.policy_links
                .iter()
                .filter(|(c, _)| c == id)
                .map(|(_, p)| p.clone())
                .collect()
        }))
    }

    async fn policy(&self, name: &PolicyName) -> Result<Option<PolicyRecord>, PortError> {
        Ok(self.with(|w| {
            w.policies.get(name).map(|document| PolicyRecord {
                policy_name: name.clone(),
                document: document.clone(),
            })
        }))
    }

    async fn ensure_policy(&self, policy: &PolicyRecord) -> Result<(), PortError> {
        self.with(|w| {
            w.policies
                .entry(policy.policy_name.clone())
                .or_insert_with(|| policy.document.clone());
        });
        Ok(())
    }

    async fn put_policy(&self, policy: &PolicyRecord) -> Result<(), PortError> {
        self.with(|w| {
            w.policies
                .insert(policy.policy_name.clone(), policy.document.clone())
        });
        Ok(())
    }

    async fn attach_policy(&self, name: &PolicyName, id: &CertificateId) -> Result<(), PortError> {
        self.with(|w| {
            if !w.policies.contains_key(name) {
                return Err(PortError::permanent("AttachPolicy", "no such policy"));
            }
            w.policy_links.insert((id.clone(), name.clone()));
            Ok(())
        })
    }

    async fn detach_policy(&self, name: &PolicyName, id: &CertificateId) -> Result<(), PortError> {
        self.with(|w| w.policy_links.remove(&(id.clone(), name.clone())));
        Ok(())
    }

    async fn thing(&self, name: &ThingName) -> Result<Option<ThingRecord>, PortError> {
        Ok(self.with(|w| w.things.get(name).cloned()))
    }

    async fn ensure_thing(&self, thing: &ThingRecord) -> Result<(), PortError> {
        self.with(|w| {
            w.things
                .entry(thing.thing_name.clone())
                .or_insert_with(|| ThingRecord {
                    association: ThingAssociation::NonExclusive,
                    ..thing.clone()
                });
        });
        Ok(())
    }

    async fn put_thing(&self, thing: &ThingRecord) -> Result<(), PortError> {
        // Memberships and associations live beside the thing, not in it.
        let stored = ThingRecord {
            groups: None,
            association: ThingAssociation::NonExclusive,
            ..thing.clone()
        };
        self.with(|w| w.things.insert(thing.thing_name.clone(), stored));
        Ok(())
    }

    async fn delete_thing(&self, name: &ThingName) -> Result<(), PortError> {
        self.with(|w| {
            if w.thing_links.keys().any(|(_, t)| t == name) {
                return Err(PortError::permanent("DeleteThing", "thing has principals"));
            }
            w.things.remove(name);
            w.memberships.retain(|(t, _)| t != name);
            Ok(())
        })
    }

    async fn certificate_thing_associations(
        &self,
        id: &CertificateId,
    ) -> Result<BTreeMap<ThingName, ThingAssociation>, PortError> {
        Ok(self.with(|w| {
            w.thing_links
                .iter()
                .filter(|((c, _), _)| c == id)
                .map(|((_, t), association)| (t.clone(), *association))
                .collect()
        }))
    }

    async fn thing_certificates(&self, name: &ThingName) -> Result<Vec<CertificateId>, PortError> {
        Ok(self.with(|w| {
            w.thing_links
                .keys()
                .filter(|(_, t)| t == name)
                .map(|(c, _)| c.clone())
                .collect()
        }))
    }

    /// As strict as AWS (and the sandbox launcher's patch): an exclusive attach is refused
    /// while the certificate has another thing, any attach while it is exclusively another
    /// thing's; attaching a linked pair again sets its association.
    async fn attach_thing(
        &self,
        name: &ThingName,
        id: &CertificateId,
        association: ThingAssociation,
    ) -> Result<(), PortError> {
        self.with(|w| {
            if !w.things.contains_key(name) {
                return Err(PortError::permanent(
                    "AttachThingPrincipal",
                    "no such thing",
                ));
            }
            let others: Vec<ThingAssociation> = w
                .thing_links
                .iter()
                .filter(|((c, t), _)| c == id && t != name)
                .map(|(_, held)| *held)
                .collect();
            let exclusive = ThingAssociation::Exclusive;
            if (association == exclusive && !others.is_empty()) || others.contains(&exclusive) {
                // Retryable, as DR's adapter reports it once its pauses for a pending
                // detachment have passed.
                return Err(PortError::transient(
                    "AttachThingPrincipal",
                    "InvalidRequestException: the certificate has another thing",
                ));
            }
            w.thing_links
                .insert((id.clone(), name.clone()), association);
            Ok(())
        })
    }

    async fn detach_thing(&self, name: &ThingName, id: &CertificateId) -> Result<(), PortError> {
        self.with(|w| w.thing_links.remove(&(id.clone(), name.clone())));
        Ok(())
    }
}

impl World {
    fn group_ref(&self, name: &ThingGroupName) -> GroupRef {
        self.groups[name].membership()
    }
}

/// AWS's rules for groups, strictly: a parent must exist, a group with children cannot be
/// deleted, nothing is added to a dynamic group by hand.
impl ThingGroupRegistry for FakeRegistry {
    async fn thing_group(
        &self,
        name: &ThingGroupName,
    ) -> Result<Option<ThingGroupRecord>, PortError> {
        Ok(self.with(|w| w.groups.get(name).cloned()))
    }

    async fn thing_group_policies(
        &self,
        name: &ThingGroupName,
    ) -> Result<Vec<PolicyRecord>, PortError> {
        Ok(self.with(|w| {
            w.group_policies
                .iter()
                .filter(|(g, _)| g == name)
                .map(|(_, p)| PolicyRecord {
                    policy_name: p.clone(),
                    document: w.policies[p].clone(),
                })
                .collect()
        }))
    }

    async fn thing_group_policy_names(
        &self,
        name: &ThingGroupName,
    ) -> Result<BTreeSet<PolicyName>, PortError> {
        Ok(self.with(|w| {
            w.group_policies
                .iter()
                .filter(|(g, _)| g == name)
                .map(|(_, p)| p.clone())
                .collect()
        }))
    }

    async fn ensure_thing_group(
        &self,
        name: &ThingGroupName,
        parent: Option<&ThingGroupName>,
    ) -> Result<(), PortError> {
        self.with(|w| {
            if w.groups.contains_key(name) {
                return Ok(());
            }
            let ancestors = match parent {
                None => Vec::new(),
                Some(parent) => match w.groups.get(parent) {
                    Some(p) => p.ancestors.iter().chain([parent]).cloned().collect(),
                    None => return Err(PortError::permanent("CreateThingGroup", "no such parent")),
                },
            };
            w.groups.insert(
                name.clone(),
                ThingGroupRecord {
                    group_name: name.clone(),
                    ancestors,
                    description: None,
                    attributes: BTreeMap::new(),
                    query: None,
                    policies: Vec::new(),
                },
            );
            Ok(())
        })
    }

    async fn put_thing_group(&self, group: &ThingGroupRecord) -> Result<GroupWrite, PortError> {
        if let Some(existing) = self.thing_group(&group.group_name).await? {
            if existing.ancestors != group.ancestors
                || existing.query.is_some() != group.query.is_some()
            {
                return Ok(GroupWrite::Misplaced);
            }
        } else {
            self.ensure_thing_group(&group.group_name, group.parent())
                .await?;
        }
        self.with(|w| {
            let stored = w.groups.get_mut(&group.group_name).expect("ensured");
            *stored = ThingGroupRecord {
                policies: Vec::new(),
                ancestors: stored.ancestors.clone(),
                ..group.clone()
            };
        });
        Ok(GroupWrite::Done)
    }

    async fn delete_thing_group(&self, name: &ThingGroupName) -> Result<(), PortError> {
        self.with(|w| {
            if w.groups.values().any(|g| g.parent() == Some(name)) {
                return Err(PortError::transient(
                    "DeleteThingGroup",
                    "the group still has child groups",
                ));
            }
            w.groups.remove(name);
            w.memberships.retain(|(_, g)| g != name);
            w.group_policies.retain(|(g, _)| g != name);
            Ok(())
        })
    }

    async fn attach_group_policy(
        &self,
        policy: &PolicyName,
        group: &ThingGroupName,
    ) -> Result<(), PortError> {
        self.with(|w| {
            if !w.policies.contains_key(policy) || !w.groups.contains_key(group) {
                return Err(PortError::permanent(
                    "AttachPolicy",
                    "no such policy or group",
                ));
            }
            w.group_policies.insert((group.clone(), policy.clone()));
            Ok(())
        })
    }

    async fn detach_group_policy(
        &self,
        policy: &PolicyName,
        group: &ThingGroupName,
    ) -> Result<(), PortError> {
        self.with(|w| w.group_policies.remove(&(group.clone(), policy.clone())));
        Ok(())
    }

    async fn thing_memberships(&self, thing: &ThingName) -> Result<Vec<GroupRef>, PortError> {
        Ok(self.with(|w| {
            w.memberships
                .iter()
                .filter(|(t, _)| t == thing)
                .map(|(_, g)| w.group_ref(g))
                .collect()
        }))
    }

    async fn thing_group_names(
        &self,
        thing: &ThingName,
    ) -> Result<BTreeSet<ThingGroupName>, PortError> {
        Ok(self.with(|w| {
            w.memberships
                .iter()
                .filter(|(t, _)| t == thing)
                .map(|(_, g)| g.clone())
                .collect()
        }))
    }

    async fn add_to_group(
        &self,
        thing: &ThingName,
        group: &ThingGroupName,
    ) -> Result<(), PortError> {
        self.with(|w| match w.groups.get(group) {
            Some(g) if g.query.is_some() => Err(PortError::permanent(
                "AddThingToThingGroup",
                "cannot add to a dynamic group",
            )),
            Some(_) if w.memberships.contains(&(thing.clone(), group.clone())) => Ok(()),
            Some(g) if w.things.contains_key(thing) => {
                // As AWS: one group per hierarchy (one root), ten groups at most.
                let root =
                    |g: &ThingGroupRecord| g.ancestors.first().unwrap_or(&g.group_name).clone();
                let current: Vec<&ThingGroupRecord> = w
                    .memberships
                    .iter()
                    .filter(|(t, _)| t == thing)
                    .filter_map(|(_, name)| w.groups.get(name))
                    .collect();
                if current.iter().any(|other| root(other) == root(g)) {
                    return Err(PortError::permanent(
                        "AddThingToThingGroup",
                        "InvalidRequestException: already in a group of the same hierarchy",
                    ));
                }
                if current.len() >= 10 {
                    return Err(PortError::permanent(
                        "AddThingToThingGroup",
                        "InvalidRequestException: already in 10 thing groups",
                    ));
                }
                w.memberships.insert((thing.clone(), group.clone()));
                Ok(())
            }
            _ => Err(PortError::permanent(
                "AddThingToThingGroup",
                "no such thing or group",
            )),
        })
    }

    async fn remove_from_group(
        &self,
        thing: &ThingName,
        group: &ThingGroupName,
    ) -> Result<(), PortError> {
        self.with(|w| w.memberships.remove(&(thing.clone(), group.clone())));
        Ok(())
    }
}

impl ThingTypeRegistry for FakeRegistry {
    async fn thing_type(&self, name: &str) -> Result<Option<ThingTypeRecord>, PortError> {
        Ok(self.with(|w| w.thing_types.get(name).cloned()))
    }

    async fn put_thing_type(&self, thing_type: &ThingTypeRecord) -> Result<(), PortError> {
        self.with(|w| {
            w.thing_types
                .insert(thing_type.thing_type_name.clone(), thing_type.clone())
        });
        Ok(())
    }
}

impl RoleAliasRegistry for FakeRegistry {
    async fn role_alias(&self, name: &RoleAliasName) -> Result<Option<RoleAliasRecord>, PortError> {
        Ok(self.with(|w| w.role_aliases.get(name).cloned()))
    }

    async fn put_role_alias(&self, alias: &RoleAliasRecord) -> Result<(), PortError> {
        self.with(|w| {
            w.role_aliases
                .insert(alias.role_alias.clone(), alias.clone())
        });
        Ok(())
    }

    async fn delete_role_alias(&self, name: &RoleAliasName) -> Result<(), PortError> {
        self.with(|w| w.role_aliases.remove(name));
        Ok(())
    }
}

impl ProvisioningTemplateRegistry for FakeRegistry {
    async fn provisioning_template(
        &self,
        name: &TemplateName,
    ) -> Result<Option<ProvisioningTemplateRecord>, PortError> {
        Ok(self.with(|w| w.templates.get(name).cloned()))
    }

    async fn put_provisioning_template(
        &self,
        template: &ProvisioningTemplateRecord,
    ) -> Result<(), PortError> {
        self.with(|w| {
            w.templates
                .insert(template.template_name.clone(), template.with_no_policies())
        });
        Ok(())
    }

    async fn delete_provisioning_template(&self, name: &TemplateName) -> Result<(), PortError> {
        self.with(|w| w.templates.remove(name));
        Ok(())
    }
}

impl ShadowStore for FakeRegistry {
    async fn shadow(
        &self,
        thing: &ThingName,
        name: Option<&str>,
    ) -> Result<Option<ShadowDocument>, PortError> {
        let key = (thing.clone(), name.map(str::to_owned));
        // As the shadow service: a GET's `timestamp` is when the response was generated.
        Ok(self.with(|w| {
            w.shadows.get(&key).cloned().map(|mut document| {
                document.timestamp = w.shadow_clock;
                document
            })
        }))
    }

    async fn update_shadow(
        &self,
        thing: &ThingName,
        name: Option<&str>,
        update: &serde_json::Value,
    ) -> Result<(), PortError> {
        let key = (thing.clone(), name.map(str::to_owned));
        self.with(|w| {
            let current = w.shadows.get(&key).cloned().unwrap_or_default();
            // As the shadow service: a `version` that is not the latest is refused.
            if let Some(expected) = update.get("version").and_then(serde_json::Value::as_u64) {
                if w.shadows.contains_key(&key) && expected != current.version {
                    return Err(PortError::permanent(
                        "UpdateThingShadow",
                        "ConflictException: Version conflict",
                    ));
                }
            }
            let at = w.shadow_clock;
            w.shadows.insert(key, apply_patch(&current, update, at));
            Ok(())
        })
    }

    async fn shadow_names(&self, thing: &ThingName) -> Result<Vec<String>, PortError> {
        Ok(self.with(|w| {
            w.shadows
                .keys()
                .filter(|(t, _)| t == thing)
                .filter_map(|(_, name)| name.clone())
                .collect()
        }))
    }

    async fn delete_shadow(&self, thing: &ThingName, name: Option<&str>) -> Result<(), PortError> {
        let key = (thing.clone(), name.map(str::to_owned));
        self.with(|w| w.shadows.remove(&key));
        Ok(())
    }
}

#[derive(Debug, Default)]
pub(crate) struct FakeLedger {
    pub(crate) entries: Mutex<BTreeMap<String, LedgerEntry>>,
}

impl ApplyLedger for FakeLedger {
    async fn entry(&self, key: &str) -> Result<Option<LedgerEntry>, PortError> {
        Ok(self.entries.lock().unwrap().get(key).cloned())
    }

    async fn record(&self, key: &str, entry: LedgerEntry) -> Result<Recorded, PortError> {
        let mut entries = self.entries.lock().unwrap();
        match entries.get(key) {
            Some(stored) if stored.version >= entry.version => Ok(Recorded::NewerExists),
            stored => {
                let revoked = entry.revoked || stored.is_some_and(|s| s.revoked);
                entries.insert(key.to_owned(), LedgerEntry { revoked, ..entry });
                Ok(Recorded::Recorded)
            }
        }
    }
}

impl crate::reconcile::CertificateLister for FakeRegistry {
    /// Pages in id order (oldest first) or reverse id order (newest first); the marker is
    /// the last id of the page before.
    async fn certificate_page(
        &self,
        marker: Option<&str>,
        page_size: u32,
        order: crate::reconcile::ListOrder,
    ) -> Result<crate::reconcile::CertificatePage, PortError> {
        if self.unreachable.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(PortError::transient(
                "ListCertificates",
                "connection timed out",
            ));
        }
        let world = self.snapshot();
        let newest_first = order == crate::reconcile::ListOrder::NewestFirst;
        let after = |id: &CertificateId| {
            marker.is_none_or(|m| id.as_str() != m && (id.as_str() > m) != newest_first)
        };
        let listed: Box<dyn Iterator<Item = _>> = if newest_first {
            Box::new(world.certificates.iter().rev())
        } else {
            Box::new(world.certificates.iter())
        };
        let mut certificates: Vec<_> = listed
            .filter(|(id, _)| after(id))
            .take(page_size as usize + 1)
            .map(|(id, (_, status))| (id.clone(), *status))
            .collect();
        let next_marker = (certificates.len() > page_size as usize).then(|| {
            certificates.truncate(page_size as usize);
            certificates
                .last()
                .expect("a full page")
                .0
                .as_str()
                .to_owned()
        });
        Ok(crate::reconcile::CertificatePage {
            certificates,
            next_marker,
        })
    }
}

/// Primary as the tests' message source.
pub(crate) fn source_ref() -> SourceRef {
    SourceRef {
        account_id: "111111111111".parse().expect("valid"),
        region: "us-east-1".parse().expect("valid"),
    }
}

/// The tests' primary → DR mapping.
pub(crate) fn rewrite() -> ArnRewrite {
    ArnRewrite::new(
        "111111111111".parse().expect("valid"),
        "us-east-1".parse().expect("valid"),
        "222222222222".parse().expect("valid"),
        "us-west-2".parse().expect("valid"),
    )
}

impl FakeRegistry {
    /// Write `desired` to a shadow at shadow-service time `at`, and return the documents
    /// message primary's shadow service publishes for it (`previous`, `current`, the
    /// update's time), as capture would publish it.
    pub(crate) async fn shadow_write_message(
        &self,
        thing: &ThingName,
        name: Option<&str>,
        desired: serde_json::Value,
        at: i64,
    ) -> crate::replication::ReplicationMessage {
        use crate::replication::ShadowStore;
        self.world.lock().unwrap().shadow_clock = at;
        let previous = self.shadow(thing, name).await.expect("fake");
        self.update_shadow(
            thing,
            name,
            &serde_json::json!({"state": {"desired": desired}}),
        )
        .await
        .expect("fake");
        let current = self
            .shadow(thing, name)
            .await
            .expect("fake")
            .expect("written");
        crate::replication::ReplicationMessage {
            schema_version: crate::replication::message::SCHEMA_VERSION,
            source: source_ref(),
            cause: "shadow".to_owned(),
            event_time_ms: at * 1000,
            observed_at_ms: at * 1000,
            subject: crate::replication::Subject::Shadow(Box::new(
                crate::replication::records::ShadowUpdate {
                    thing_name: thing.clone(),
                    shadow_name: name.map(str::to_owned),
                    previous,
                    current,
                },
            )),
        }
    }
}
