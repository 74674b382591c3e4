//! [`CertificateRegistry`] on the AWS IoT control plane of one account and region.
//!
//! Idempotency lives here: "already exists" on a create and "not found" on a delete or
//! detach are success. Every request goes through [`Calls::send`]: paced, counted (so
//! benchmarks can report calls per certificate) and its error classified.
//!
//! Long because it is one trait implementation ([`CertificateRegistry`]) kept whole: thing
//! groups, shadows, role aliases and provisioning templates already live in submodules.

use dr_core::port::PortError;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_iot::types::{AttributePayload, CertificateStatus as SdkStatus, ThingPrincipalType};
use aws_sdk_iot::Client;
use dr_core::certificate::{CertificateId, CertificatePem, CertificateStatus};
use dr_core::ids::{AccountId, PolicyName, Region, ThingName};
use dr_core::ratelimit::TokenBucket;
use dr_core::reconcile::{CertificateLister, CertificatePage, ListOrder, MAX_PAGE_SIZE};
use dr_core::replication::ports::{CertificateView, Registration};
use dr_core::replication::records::{
    CaCertificateRecord, PolicyRecord, ThingAssociation, ThingRecord,
};
use dr_core::replication::CertificateRegistry;

use crate::call::{CallError, Calls, Tolerate};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

mod ca_certificates;
mod provisioning_templates;
mod role_aliases;
mod shadows;
#[cfg(test)]
mod tests;
mod thing_groups;
mod thing_types;

/// AWS keeps at most five versions of a policy.
const MAX_POLICY_VERSIONS: usize = 5;

/// IoT's answer for a resource that is not there.
const NOT_FOUND: &[&str] = &["ResourceNotFoundException"];
/// IoT's answer for a create that finds the resource there.
const ALREADY_EXISTS: &[&str] = &["ResourceAlreadyExistsException"];

/// AWS detaches a thing's principals asynchronously: "it might take several seconds for the
/// detachment to propagate" (DetachThingPrincipal). Until it has, DeleteThing answers
/// InvalidRequestException ("Cannot delete. Thing … is still attached to one or more
/// principals") and DeleteCertificate DeleteConflictException ("Things must be detached
/// before deletion"). A delete that meets either waits these pauses between tries (3.75 s in
/// all, well inside an invocation); past them its failure is retryable, so the message comes
/// again later, and never a refusal sent to the DLQ.
const DETACH_PROPAGATION_PAUSES: &[Duration] = &[
    Duration::from_millis(250),
    Duration::from_millis(500),
    Duration::from_millis(1_000),
    Duration::from_millis(2_000),
];

/// The IoT registry of one account in one region.
#[derive(Debug)]
pub struct IotRegistry {
    client: Client,
    /// The data plane, for device shadows (`None`: built without one; shadow calls fail).
    data: Option<aws_sdk_iotdataplane::Client>,
    account: AccountId,
    region: Region,
    /// Every request, paced under the account's API quotas when a limiter is set (the
    /// reconciler's registries).
    calls: Calls,
    /// Policies known to exist here. A fleet shares a handful of policies across millions
    /// of certificates: without this, every new certificate would pay a CreatePolicy call.
    known_policies: Mutex<HashSet<PolicyName>>,
    /// CA certificates known to be registered here, with their PEMs: one fleet CA signs
    /// thousands of devices, and each new device would otherwise pay a DescribeCACertificate.
    known_cas: Mutex<HashMap<CertificateId, String>>,
    /// Paces certificate registrations only (the replicator in DR).
    register_limiter: Option<Arc<TokenBucket>>,
    /// How long a delete waits for a detachment to propagate (tests shorten it).
    detach_pauses: &'static [Duration],
}

impl IotRegistry {
    /// A registry on `client`, which must be configured for `account` in `region`.
    pub fn new(client: Client, account: AccountId, region: Region) -> Self {
        Self {
            client,
            data: None,
            account,
            region,
            calls: Calls::default(),
            known_policies: Mutex::new(HashSet::new()),
            known_cas: Mutex::new(HashMap::new()),
            register_limiter: None,
            detach_pauses: DETACH_PROPAGATION_PAUSES,
        }
    }

    /// The registry of one side of `topology`, through `session`.
    pub fn for_side(
        session: &crate::AwsSession,
        topology: &dr_core::Topology,
        side: dr_core::Side,
    ) -> Self {
        Self::new(
            session.iot(side),
            topology.side(side).account_id.clone(),
            topology.side(side).region.clone(),
        )
        .with_data_plane(session.iot_data(side))
    }

    /// Use `data` for device shadows.
    pub fn with_data_plane(mut self, data: aws_sdk_iotdataplane::Client) -> Self {
        self.data = Some(data);
        self
    }

    /// DR's registry as the replicator writes it: registrations paced at
    /// `[replication] register_per_second` when set.
    pub fn replication_target(session: &crate::AwsSession, topology: &dr_core::Topology) -> Self {
        let registry = Self::for_side(session, topology, dr_core::Side::Dr);
        match topology.replication.register_per_second {
            Some(rate) => {
                registry.with_register_rate_limit(Arc::new(TokenBucket::new(rate, rate.max(1.0))))
            }
            None => registry,
        }
    }

    /// Pace every call with `limiter` (the reconciler: it must leave the account's IoT
    /// quotas to the replicator and to devices' just-in-time registrations).
    /// Throttling that still happens (another client spent the quota) is retried with
    /// backoff by the session's retry policy.
    pub fn with_rate_limit(mut self, limiter: Arc<TokenBucket>) -> Self {
        let config = self
            .client
            .config()
            .to_builder()
            .retry_config(crate::session::retry_policy())
            .build();
        self.client = Client::from_conf(config);
        self.calls.pace_with(limiter);
        self
    }

    /// Pace certificate registrations (RegisterCertificate, RegisterCertificateWithoutCA)
    /// with `limiter`: the account's registration quota, shared out between the
    /// replicator's concurrent instances. Other calls are not paced.
    pub fn with_register_rate_limit(mut self, limiter: Arc<TokenBucket>) -> Self {
        self.register_limiter = Some(limiter);
        self
    }

    /// How many API calls this registry has made.
    pub fn calls(&self) -> u64 {
        self.calls.made()
    }

    /// The ARN of a certificate in this account and region.
    pub fn certificate_arn(&self, id: &CertificateId) -> String {
        format!("arn:aws:iot:{}:{}:cert/{id}", self.region, self.account)
    }

    /// The names of the policies attached to `target` (a certificate's or a thing group's
    /// ARN); `None` when IoT has no such target.
    async fn attached_policy_names(
        &self,
        target: String,
    ) -> Result<Option<BTreeSet<PolicyName>>, PortError> {
        let policies = self
            .calls
            .pages(
                "ListAttachedPolicies",
                |marker| {
                    self.client
                        .list_attached_policies()
                        .target(&target)
                        .set_marker(marker)
                        .send()
                },
                |page| (page.policies.unwrap_or_default(), page.next_marker),
            )
            .await
            .none_on(NOT_FOUND)?;
        Ok(policies.map(|policies| {
            policies
                .iter()
                .filter_map(|p| p.policy_name())
                .filter_map(|name| name.parse().ok())
                .collect()
        }))
    }

    /// Each named policy with its default document (one deleted meanwhile is left out).
    async fn with_documents(
        &self,
        names: BTreeSet<PolicyName>,
    ) -> Result<Vec<PolicyRecord>, PortError> {
        let mut policies = Vec::new();
        for name in names {
            if let Some(policy) = self.policy(&name).await? {
                policies.push(policy);
            }
        }
        Ok(policies)
    }

    /// Forget that a policy exists here (it was deleted behind our back).
    fn forget_policy(&self, name: &PolicyName) {
        self.known_policies
            .lock()
            .expect("not poisoned")
            .remove(name);
    }

    async fn create_thing_type(&self, thing_type: &str) -> Result<(), PortError> {
        self.calls
            .send("CreateThingType", || {
                self.client
                    .create_thing_type()
                    .thing_type_name(thing_type)
                    .send()
            })
            .await
            .done_on(ALREADY_EXISTS)
    }

    /// CreateThing; `Ok(false)` if a thing of that name exists with other settings.
    async fn create_thing(&self, thing: &ThingRecord) -> Result<bool, PortError> {
        if let Some(thing_type) = &thing.thing_type {
            self.create_thing_type(thing_type).await?;
        }
        let request = self
            .client
            .create_thing()
            .thing_name(thing.thing_name.as_str())
            .set_thing_type_name(thing.thing_type.clone())
            .attribute_payload(attribute_payload(&thing.attributes));
        Ok(self
            .calls
            .send("CreateThing", || request.send())
            .await
            .none_on(ALREADY_EXISTS)?
            .is_some())
    }

    async fn policy_versions_make_room(&self, name: &PolicyName) -> Result<(), PortError> {
        let versions = self
            .calls
            .send("ListPolicyVersions", || {
                self.client
                    .list_policy_versions()
                    .policy_name(name.as_str())
                    .send()
            })
            .await?;
        let mut old: Vec<_> = versions
            .policy_versions()
            .iter()
            .filter(|v| !v.is_default_version())
            .collect();
        if versions.policy_versions().len() < MAX_POLICY_VERSIONS {
            return Ok(());
        }
        old.sort_by_key(|v| v.create_date().map(|d| d.as_nanos()).unwrap_or_default());
        if let Some(oldest) = old.first().and_then(|v| v.version_id()) {
            let request = self
                .client
                .delete_policy_version()
                .policy_name(name.as_str())
                .policy_version_id(oldest);
            self.calls
                .send("DeletePolicyVersion", || request.send())
                .await?;
        }
        Ok(())
    }
}

impl IotRegistry {
    /// Delete with `request`, done if the resource is gone; while `still_attached` reads the
    /// answer as a detachment not yet propagated, try again after each of
    /// [`DETACH_PROPAGATION_PAUSES`], then give up retryably.
    async fn delete_once_detached<T, E, F, Fut>(
        &self,
        operation: &str,
        still_attached: impl Fn(&CallError) -> bool,
        request: F,
    ) -> Result<(), PortError>
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, SdkError<E, HttpResponse>>>,
    {
        self.send_once_detached(operation, NOT_FOUND, still_attached, request)
            .await
    }

    /// Send `request`, done on success or an answer in `done_on`; while `still_attached`
    /// reads the answer as a detachment not yet propagated, try again after each of
    /// [`DETACH_PROPAGATION_PAUSES`], then give up retryably.
    async fn send_once_detached<T, E, F, Fut>(
        &self,
        operation: &str,
        done_on: &[&str],
        still_attached: impl Fn(&CallError) -> bool,
        request: F,
    ) -> Result<(), PortError>
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, SdkError<E, HttpResponse>>>,
    {
        let mut pauses = self.detach_pauses.iter();
        loop {
            let error = match self.calls.send(operation, &request).await {
                Ok(_) => return Ok(()),
                Err(e) if e.is(done_on) => return Ok(()),
                Err(e) => e,
            };
            if !still_attached(&error) {
                return Err(error.into());
            }
            match pauses.next() {
                Some(pause) => tokio::time::sleep(*pause).await,
                None => {
                    let mut error = PortError::from(error);
                    error.retryable = true;
                    return Err(error);
                }
            }
        }
    }

    /// Shorter pauses for a delete waiting on a detachment (tests).
    #[cfg(test)]
    fn with_detach_pauses(mut self, pauses: &'static [Duration]) -> Self {
        self.detach_pauses = pauses;
        self
    }
}

fn attribute_payload(attributes: &BTreeMap<String, String>) -> AttributePayload {
    AttributePayload::builder()
        .set_attributes(Some(attributes.clone().into_iter().collect()))
        .merge(false)
        .build()
}

fn sdk_association(association: ThingAssociation) -> ThingPrincipalType {
    match association {
        ThingAssociation::NonExclusive => ThingPrincipalType::NonExclusiveThing,
        ThingAssociation::Exclusive => ThingPrincipalType::ExclusiveThing,
    }
}

/// AWS's type of a link: absent, or one this SDK does not know, is read as the default.
fn domain_association(association: Option<&ThingPrincipalType>) -> ThingAssociation {
    match association {
        Some(ThingPrincipalType::ExclusiveThing) => ThingAssociation::Exclusive,
        _ => ThingAssociation::NonExclusive,
    }
}

fn sdk_status(status: CertificateStatus) -> SdkStatus {
    SdkStatus::from(status.as_str())
}

fn domain_status(status: Option<&SdkStatus>) -> Result<CertificateStatus, PortError> {
    status
        .map(SdkStatus::as_str)
        .unwrap_or_default()
        .parse()
        .map_err(|e: String| PortError::permanent("DescribeCertificate", e))
}

impl CertificateRegistry for IotRegistry {
    async fn certificate(&self, id: &CertificateId) -> Result<Option<CertificateView>, PortError> {
        let request = self
            .client
            .describe_certificate()
            .certificate_id(id.as_str());
        let Some(output) = self
            .calls
            .send("DescribeCertificate", || request.send())
            .await
            .none_on(NOT_FOUND)?
        else {
            return Ok(None);
        };
        let Some(description) = output.certificate_description() else {
            return Ok(None);
        };
        Ok(Some(CertificateView {
            pem: description.certificate_pem().unwrap_or_default().to_owned(),
            status: domain_status(description.status())?,
            ca_certificate_id: description
                .ca_certificate_id()
                .and_then(|ca| ca.parse().ok()),
            last_modified_ms: description
                .last_modified_date()
                .and_then(|d| d.to_millis().ok())
                .unwrap_or_default(),
        }))
    }

    async fn ca_certificate_pem(&self, ca_id: &CertificateId) -> Result<Option<String>, PortError> {
        if let Some(pem) = self.known_cas.lock().expect("not poisoned").get(ca_id) {
            return Ok(Some(pem.clone()));
        }
        let pem = self
            .ca_description(ca_id)
            .await?
            .and_then(|d| d.certificate_pem().map(str::to_owned));
        if let Some(pem) = &pem {
            self.known_cas
                .lock()
                .expect("not poisoned")
                .insert(ca_id.clone(), pem.clone());
        }
        Ok(pem)
    }

    async fn ca_certificate(
        &self,
        ca_id: &CertificateId,
    ) -> Result<Option<CaCertificateRecord>, PortError> {
        self.describe_ca(ca_id).await
    }

    async fn set_ca_certificate(&self, ca: &CaCertificateRecord) -> Result<bool, PortError> {
        self.update_ca(ca).await
    }

    async fn register_certificate(
        &self,
        pem: &CertificatePem,
        ca_pem: Option<&str>,
        status: CertificateStatus,
    ) -> Result<Registration, PortError> {
        if let Some(limiter) = &self.register_limiter {
            limiter.take(tokio::time::sleep).await;
        }
        let registered = match ca_pem {
            Some(ca_pem) => {
                let request = self
                    .client
                    .register_certificate()
                    .certificate_pem(pem.as_str())
                    .ca_certificate_pem(ca_pem)
                    .status(sdk_status(status));
                self.calls
                    .send("RegisterCertificate", || request.send())
                    .await
                    .map(drop)
            }
            None => {
                let request = self
                    .client
                    .register_certificate_without_ca()
                    .certificate_pem(pem.as_str())
                    .status(sdk_status(status));
                self.calls
                    .send("RegisterCertificateWithoutCA", || request.send())
                    .await
                    .map(drop)
            }
        };
        match registered.none_on(ALREADY_EXISTS) {
            Ok(Some(())) => Ok(Registration::New),
            Ok(None) => Ok(Registration::AlreadyExisted),
            Err(error) => {
                tracing::debug!(operation = %error.operation, %error, "registration failed");
                Err(error)
            }
        }
    }

    async fn set_status(
        &self,
        id: &CertificateId,
        status: CertificateStatus,
    ) -> Result<(), PortError> {
        let request = self
            .client
            .update_certificate()
            .certificate_id(id.as_str())
            .new_status(sdk_status(status));
        self.calls
            .send("UpdateCertificate", || request.send())
            .await?;
        Ok(())
    }

    async fn delete_certificate(&self, id: &CertificateId) -> Result<(), PortError> {
        self.delete_once_detached(
            "DeleteCertificate",
            |e| e.is(&["DeleteConflictException"]),
            || {
                self.client
                    .delete_certificate()
                    .certificate_id(id.as_str())
                    .send()
            },
        )
        .await
    }

    async fn certificate_policies(
        &self,
        id: &CertificateId,
    ) -> Result<Vec<PolicyRecord>, PortError> {
        let names = self.certificate_policy_names(id).await?;
        self.with_documents(names).await
    }

    async fn certificate_policy_names(
        &self,
        id: &CertificateId,
    ) -> Result<BTreeSet<PolicyName>, PortError> {
        self.attached_policy_names(self.certificate_arn(id))
            .await?
            .ok_or_else(|| {
                PortError::permanent(
                    "ListAttachedPolicies",
                    format!("certificate {id} not found"),
                )
            })
    }

    async fn policy(&self, name: &PolicyName) -> Result<Option<PolicyRecord>, PortError> {
        let request = self.client.get_policy().policy_name(name.as_str());
        let Some(output) = self
            .calls
            .send("GetPolicy", || request.send())
            .await
            .none_on(NOT_FOUND)?
        else {
            return Ok(None);
        };
        Ok(output.policy_document().map(|document| PolicyRecord {
            policy_name: name.clone(),
            document: document.to_owned(),
        }))
    }

    async fn ensure_policy(&self, policy: &PolicyRecord) -> Result<(), PortError> {
        if self
            .known_policies
            .lock()
            .expect("not poisoned")
            .contains(&policy.policy_name)
        {
            return Ok(());
        }
        let request = self
            .client
            .create_policy()
            .policy_name(policy.policy_name.as_str())
            .policy_document(&policy.document);
        self.calls
            .send("CreatePolicy", || request.send())
            .await
            .done_on(ALREADY_EXISTS)?;
        self.known_policies
            .lock()
            .expect("not poisoned")
            .insert(policy.policy_name.clone());
        Ok(())
    }

    async fn put_policy(&self, policy: &PolicyRecord) -> Result<(), PortError> {
        match self.policy(&policy.policy_name).await? {
            None => {
                // Gone behind our back: the cache must not make ensure_policy skip it.
                self.known_policies
                    .lock()
                    .expect("not poisoned")
                    .remove(&policy.policy_name);
                self.ensure_policy(policy).await
            }
            Some(current) if same_json(&current.document, &policy.document) => Ok(()),
            Some(_) => {
                self.policy_versions_make_room(&policy.policy_name).await?;
                let request = self
                    .client
                    .create_policy_version()
                    .policy_name(policy.policy_name.as_str())
                    .policy_document(&policy.document)
                    .set_as_default(true);
                self.calls
                    .send("CreatePolicyVersion", || request.send())
                    .await?;
                Ok(())
            }
        }
    }

    async fn attach_policy(&self, name: &PolicyName, id: &CertificateId) -> Result<(), PortError> {
        let request = self
            .client
            .attach_policy()
            .policy_name(name.as_str())
            .target(self.certificate_arn(id));
        let attached = self
            .calls
            .send("AttachPolicy", || request.send())
            .await
            .none_on(NOT_FOUND)?;
        if attached.is_none() {
            // Deleted behind our back: forget it, and let the redelivery create it again.
            self.forget_policy(name);
            return Err(PortError::transient(
                "AttachPolicy",
                format!("policy {name} is gone from this account; it will be recreated on retry"),
            ));
        }
        Ok(())
    }

    async fn detach_policy(&self, name: &PolicyName, id: &CertificateId) -> Result<(), PortError> {
        let request = self
            .client
            .detach_policy()
            .policy_name(name.as_str())
            .target(self.certificate_arn(id));
        self.calls
            .send("DetachPolicy", || request.send())
            .await
            .done_on(NOT_FOUND)
    }

    async fn thing(&self, name: &ThingName) -> Result<Option<ThingRecord>, PortError> {
        let request = self.client.describe_thing().thing_name(name.as_str());
        let described = self
            .calls
            .send("DescribeThing", || request.send())
            .await
            .none_on(NOT_FOUND)?;
        Ok(described.map(|output| ThingRecord {
            thing_name: name.clone(),
            thing_type: output.thing_type_name().map(str::to_owned),
            attributes: output
                .attributes()
                .map(|a| a.clone().into_iter().collect())
                .unwrap_or_default(),
            groups: None,
            association: ThingAssociation::NonExclusive,
        }))
    }

    async fn ensure_thing(&self, thing: &ThingRecord) -> Result<(), PortError> {
        self.create_thing(thing).await.map(|_| ())
    }

    async fn put_thing(&self, thing: &ThingRecord) -> Result<(), PortError> {
        if self.create_thing(thing).await? {
            return Ok(());
        }
        let mut update = self
            .client
            .update_thing()
            .thing_name(thing.thing_name.as_str())
            .attribute_payload(attribute_payload(&thing.attributes));
        update = match &thing.thing_type {
            Some(thing_type) => update.thing_type_name(thing_type),
            None => update.remove_thing_type(true),
        };
        self.calls.send("UpdateThing", || update.send()).await?;
        Ok(())
    }

    async fn delete_thing(&self, name: &ThingName) -> Result<(), PortError> {
        self.delete_once_detached(
            "DeleteThing",
            |e| e.is(&["InvalidRequestException"]) && e.says("attached"),
            || self.client.delete_thing().thing_name(name.as_str()).send(),
        )
        .await
    }

    async fn certificate_thing_associations(
        &self,
        id: &CertificateId,
    ) -> Result<BTreeMap<ThingName, ThingAssociation>, PortError> {
        let principal = self.certificate_arn(id);
        // The v2 listing: the v1 one names the things but not how they are attached.
        let things = self
            .calls
            .pages(
                "ListPrincipalThingsV2",
                |token| {
                    self.client
                        .list_principal_things_v2()
                        .principal(&principal)
                        .set_next_token(token)
                        .send()
                },
                |page| {
                    let next = page.next_token().map(str::to_owned);
                    (page.principal_thing_objects.unwrap_or_default(), next)
                },
            )
            .await
            // A certificate that is gone has no things. Capture asks this of a detach event
            // that can arrive after the certificate's deletion (decommissioning is detach,
            // deactivate, delete; the events reach capture in any order).
            .none_on(NOT_FOUND)?
            .unwrap_or_default();
        Ok(things
            .iter()
            .filter_map(|t| {
                let name = t.thing_name().parse().ok()?;
                Some((name, domain_association(t.thing_principal_type())))
            })
            .collect())
    }

    async fn thing_certificates(&self, name: &ThingName) -> Result<Vec<CertificateId>, PortError> {
        let principals = self
            .calls
            .pages(
                "ListThingPrincipals",
                |token| {
                    self.client
                        .list_thing_principals()
                        .thing_name(name.as_str())
                        .set_next_token(token)
                        .send()
                },
                |page| (page.principals.unwrap_or_default(), page.next_token),
            )
            .await
            .none_on(NOT_FOUND)?
            .unwrap_or_default();
        Ok(principals
            .iter()
            .filter_map(|p| CertificateId::from_arn(p))
            .collect())
    }

    /// AWS refuses an exclusive attach while the certificate has another thing, and any
    /// attach while another thing holds it exclusively (InvalidRequestException). Right
    /// after the replicator detached that other thing, the detachment may not have
    /// propagated yet: tried again over the same pauses as a delete, then retryable. Any
    /// other InvalidRequestException waits as long before it fails: the answer's text is
    /// not documented, so the two cannot be told apart.
    async fn attach_thing(
        &self,
        name: &ThingName,
        id: &CertificateId,
        association: ThingAssociation,
    ) -> Result<(), PortError> {
        let request = self
            .client
            .attach_thing_principal()
            .thing_name(name.as_str())
            .principal(self.certificate_arn(id))
            .thing_principal_type(sdk_association(association));
        self.send_once_detached(
            "AttachThingPrincipal",
            &[],
            |e| e.is(&["InvalidRequestException"]),
            || request.clone().send(),
        )
        .await
    }

    async fn detach_thing(&self, name: &ThingName, id: &CertificateId) -> Result<(), PortError> {
        let request = self
            .client
            .detach_thing_principal()
            .thing_name(name.as_str())
            .principal(self.certificate_arn(id));
        self.calls
            .send("DetachThingPrincipal", || request.send())
            .await
            .done_on(NOT_FOUND)
    }
}

/// Whether two JSON documents are equal as values (formatting aside).
fn same_json(a: &str, b: &str) -> bool {
    match (
        serde_json::from_str::<serde_json::Value>(a),
        serde_json::from_str::<serde_json::Value>(b),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

impl CertificateLister for IotRegistry {
    async fn certificate_page(
        &self,
        marker: Option<&str>,
        page_size: u32,
        order: ListOrder,
    ) -> Result<CertificatePage, PortError> {
        let request = self
            .client
            .list_certificates()
            .page_size(page_size.clamp(1, MAX_PAGE_SIZE) as i32)
            // Always explicit (AWS documents no default): the status tier joins both sides
            // oldest first, the deep tier walks newest first.
            .ascending_order(order == ListOrder::OldestFirst)
            .set_marker(marker.map(str::to_owned));
        let page = self
            .calls
            .send("ListCertificates", || request.send())
            .await?;
        let mut certificates = Vec::with_capacity(page.certificates().len());
        for certificate in page.certificates() {
            let Some(id) = certificate
                .certificate_id()
                .and_then(|id| id.parse::<CertificateId>().ok())
            else {
                continue;
            };
            certificates.push((id, domain_status(certificate.status())?));
        }
        Ok(CertificatePage {
            certificates,
            next_marker: page
                .next_marker()
                .filter(|m| !m.is_empty())
                .map(str::to_owned),
        })
    }
}
