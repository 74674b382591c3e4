//! Capture in primary: which subjects an event touches, and their current state.
//!
//! Three event families reach the capture Lambda: JITR registrations
//! (`$aws/events/certificates/registered/<caId>`), registry events
//! (`$aws/events/thing/<name>/created|updated|deleted`) and EventBridge "AWS API Call via
//! CloudTrail" events from `aws.iot` (certificate, principal, policy-version, thing-group
//! and group-membership calls). Events only say *what* to look at: capture then reads
//! the subject's current state in primary, so a late, duplicated or reordered event still
//! yields a correct message.
//!
//! Long because of its unit tests (~480 lines of code): each event family's parser beside
//! the real event shapes that pin it.

use crate::port::PortError;
use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value;

use crate::certificate::CertificateId;
use crate::ids::{PolicyName, RoleAliasName, TemplateName, ThingGroupName, ThingName};
use crate::replication::message::{ReplicationMessage, SourceRef, Subject, SCHEMA_VERSION};
use crate::replication::ports::{CertificateRegistry, DeviceRegistry};
use crate::replication::records::{CaRecord, CertificateRecord, ShadowUpdate, ThingRecord};
use crate::replication::shadow::ShadowDocument;
use crate::time::{parse_rfc3339, EpochMillis};

/// A subject an event touched.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Trigger {
    /// A certificate's status, registration, links or policies changed.
    Certificate(CertificateId),
    /// A thing was created, updated or deleted.
    Thing(ThingName),
    /// A policy's default version changed.
    Policy(PolicyName),
    /// A thing group was created, updated or deleted, or a policy attached to or
    /// detached from it.
    ThingGroup(ThingGroupName),
    /// A role alias was created, updated or deleted.
    RoleAlias(RoleAliasName),
    /// A provisioning template, or one of its versions, was created, updated or deleted.
    ProvisioningTemplate(TemplateName),
    /// A CA certificate was registered, (de)activated, or deleted.
    CaCertificate(CertificateId),
    /// A thing type was created, updated, (un)deprecated or deleted.
    ThingType(String),
}

/// A parsed capture event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureEvent {
    /// What happened (API name, `jitr`, `thing-created`…).
    pub cause: String,
    /// When it happened in primary.
    pub event_time_ms: EpochMillis,
    /// What to read and publish. Empty for an API call that failed (nothing changed).
    pub triggers: Vec<Trigger>,
    /// State the event carries whole (a shadow's documents): published as it is, no read.
    pub subjects: Vec<Subject>,
    /// Principals the call detached from things (DetachThingPrincipal): AWS detaches
    /// asynchronously, so capture waits for primary to show it before reading.
    pub detached: Vec<(ThingName, CertificateId)>,
}

/// Why an event was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// Not one of the three families.
    #[error("unrecognised event: not a JITR registration, a registry thing event, or a CloudTrail aws.iot API call")]
    Unrecognised,
    /// A CloudTrail event for an API capture does not handle.
    #[error("unsupported aws.iot API call {0:?}; only certificate, principal, policy-version, thing-group, group-membership, role-alias and provisioning-template calls are captured")]
    UnsupportedApiCall(String),
    /// A known family with a missing or malformed field.
    #[error("malformed {family} event: {problem}")]
    Malformed {
        /// The event family.
        family: &'static str,
        /// What is wrong.
        problem: String,
    },
}

/// Recognise and parse one event.
pub fn parse_event(event: &Value) -> Result<CaptureEvent, EventError> {
    if event.get("detail-type").and_then(Value::as_str) == Some("AWS API Call via CloudTrail") {
        return parse_cloudtrail(event);
    }
    match event.get("eventType").and_then(Value::as_str) {
        Some("THING_EVENT") => return parse_thing_event(event),
        Some("THING_GROUP_MEMBERSHIP_EVENT") => return parse_membership_event(event),
        _ => {}
    }
    if event.get("certificateStatus").is_some() && event.get("caCertificateId").is_some() {
        return parse_jitr(event);
    }
    if let Some(topic) = event.get("topic").and_then(Value::as_str) {
        if topic.starts_with("$aws/things/") && topic.contains("/shadow/") {
            return parse_shadow(event, topic);
        }
    }
    Err(EventError::Unrecognised)
}

fn malformed(family: &'static str, problem: impl Into<String>) -> EventError {
    EventError::Malformed {
        family,
        problem: problem.into(),
    }
}

fn text<'a>(value: &'a Value, field: &str, family: &'static str) -> Result<&'a str, EventError> {
    value
        .get(field)
        .and_then(Value::as_str)
        .ok_or_else(|| malformed(family, format!("missing string field `{field}`")))
}

/// IoT event timestamps are epoch milliseconds, as a number or (in some rules) a string.
fn millis(value: &Value, field: &str, family: &'static str) -> Result<EpochMillis, EventError> {
    match value.get(field) {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.parse().ok(),
        _ => None,
    }
    .ok_or_else(|| malformed(family, format!("missing epoch-millisecond field `{field}`")))
}

fn parse_jitr(event: &Value) -> Result<CaptureEvent, EventError> {
    const FAMILY: &str = "JITR";
    let id: CertificateId = text(event, "certificateId", FAMILY)?
        .parse()
        .map_err(|e| malformed(FAMILY, format!("certificateId: {e}")))?;
    Ok(CaptureEvent {
        cause: "jitr".to_owned(),
        event_time_ms: millis(event, "timestamp", FAMILY)?,
        triggers: vec![Trigger::Certificate(id)],
        subjects: Vec::new(),
        detached: Vec::new(),
    })
}

/// A shadow's `…/update/documents` or `…/delete/accepted` message, as the topic rules hand
/// it over (`SELECT *, topic() AS topic`).
fn parse_shadow(event: &Value, topic: &str) -> Result<CaptureEvent, EventError> {
    const FAMILY: &str = "shadow";
    let segments: Vec<&str> = topic.split('/').collect();
    let (thing, name, action) = match segments.as_slice() {
        ["$aws", "things", thing, "shadow", rest @ ..] => match rest {
            ["update", "documents"] => (*thing, None, "update"),
            ["delete", "accepted"] => (*thing, None, "delete"),
            ["name", name, "update", "documents"] => (*thing, Some(*name), "update"),
            ["name", name, "delete", "accepted"] => (*thing, Some(*name), "delete"),
            _ => {
                return Err(malformed(
                    FAMILY,
                    format!("topic {topic:?} is not a shadow documents or delete topic"),
                ))
            }
        },
        _ => {
            return Err(malformed(
                FAMILY,
                format!("topic {topic:?} is not a shadow topic"),
            ))
        }
    };
    let thing_name: ThingName = thing
        .parse()
        .map_err(|e| malformed(FAMILY, format!("thing name in topic: {e}")))?;
    let shadow_name = name.map(str::to_owned);
    let seconds = |value: &Value| {
        value
            .get("timestamp")
            .and_then(Value::as_i64)
            .ok_or_else(|| malformed(FAMILY, "missing epoch-second field `timestamp`"))
    };
    let timestamp = seconds(event)?;
    let subject = if action == "delete" {
        Subject::ShadowDeleted {
            thing_name,
            shadow_name,
            version: event
                .get("version")
                .and_then(Value::as_u64)
                .ok_or_else(|| malformed(FAMILY, "missing field `version`"))?,
            timestamp,
        }
    } else {
        let document = |field: &str| -> Result<Option<ShadowDocument>, EventError> {
            match event.get(field) {
                None | Some(Value::Null) => Ok(None),
                Some(value) => serde_json::from_value(value.clone())
                    .map(Some)
                    .map_err(|e| malformed(FAMILY, format!("`{field}`: {e}"))),
            }
        };
        let mut current =
            document("current")?.ok_or_else(|| malformed(FAMILY, "missing `current`"))?;
        current.timestamp = timestamp;
        Subject::Shadow(Box::new(ShadowUpdate {
            thing_name,
            shadow_name,
            previous: document("previous")?,
            current,
        }))
    };
    Ok(CaptureEvent {
        cause: format!("shadow-{action}"),
        event_time_ms: timestamp.saturating_mul(1000),
        triggers: Vec::new(),
        subjects: vec![subject],
        detached: Vec::new(),
    })
}

fn parse_thing_event(event: &Value) -> Result<CaptureEvent, EventError> {
    const FAMILY: &str = "registry thing";
    let operation = text(event, "operation", FAMILY)?;
    if !matches!(operation, "CREATED" | "UPDATED" | "DELETED") {
        return Err(malformed(
            FAMILY,
            format!("unknown operation {operation:?}"),
        ));
    }
    let name: ThingName = text(event, "thingName", FAMILY)?
        .parse()
        .map_err(|e| malformed(FAMILY, format!("thingName: {e}")))?;
    Ok(rereads_thing(
        format!("thing-{}", operation.to_ascii_lowercase()),
        millis(event, "timestamp", FAMILY)?,
        name,
    ))
}

/// A registry event's capture: read `thing` again, whole.
fn rereads_thing(cause: String, event_time_ms: EpochMillis, thing: ThingName) -> CaptureEvent {
    CaptureEvent {
        cause,
        event_time_ms,
        triggers: vec![Trigger::Thing(thing)],
        subjects: Vec::new(),
        detached: Vec::new(),
    }
}

/// A registry membership event (`$aws/events/thingGroupMembership/thingGroup/<group>/thing/
/// <thing>/added|removed`): the only trace of the memberships fleet provisioning's
/// RegisterThing sets, which CloudTrail does not record (a device-side MQTT call). The thing
/// is read again, memberships and all.
fn parse_membership_event(event: &Value) -> Result<CaptureEvent, EventError> {
    const FAMILY: &str = "registry membership";
    let operation = text(event, "operation", FAMILY)?;
    if !matches!(operation, "ADDED" | "REMOVED") {
        return Err(malformed(
            FAMILY,
            format!("unknown operation {operation:?}"),
        ));
    }
    let name: ThingName = text(event, "thingArn", FAMILY)?
        .rsplit_once(":thing/")
        .map(|(_, name)| name)
        .ok_or_else(|| malformed(FAMILY, "`thingArn` is not a thing ARN"))?
        .parse()
        .map_err(|e| malformed(FAMILY, format!("thingArn: {e}")))?;
    Ok(rereads_thing(
        format!("membership-{}", operation.to_ascii_lowercase()),
        millis(event, "timestamp", FAMILY)?,
        name,
    ))
}

fn parse_cloudtrail(event: &Value) -> Result<CaptureEvent, EventError> {
    const FAMILY: &str = "CloudTrail";
    if event.get("source").and_then(Value::as_str) != Some("aws.iot") {
        return Err(malformed(FAMILY, "source is not aws.iot"));
    }
    let detail = event
        .get("detail")
        .ok_or_else(|| malformed(FAMILY, "missing `detail`"))?;
    let name = text(detail, "eventName", FAMILY)?;
    let event_time_ms = detail
        .get("eventTime")
        .or_else(|| event.get("time"))
        .and_then(Value::as_str)
        .and_then(parse_rfc3339)
        .ok_or_else(|| malformed(FAMILY, "missing or invalid `eventTime`"))?;
    let request = detail.get("requestParameters").unwrap_or(&Value::Null);
    let response = detail.get("responseElements").unwrap_or(&Value::Null);

    let certificate = |value: &Value, field: &str| -> Result<Trigger, EventError> {
        let raw = text(value, field, FAMILY)?;
        raw.parse::<CertificateId>()
            .ok()
            .or_else(|| CertificateId::from_arn(raw))
            .map(Trigger::Certificate)
            .ok_or_else(|| {
                malformed(
                    FAMILY,
                    format!("{name}: `{field}` is not a certificate id or ARN"),
                )
            })
    };
    let ca = |value: &Value, field: &str| -> Result<Trigger, EventError> {
        let raw = text(value, field, FAMILY)?;
        let id = raw.rsplit_once(":cacert/").map_or(raw, |(_, id)| id);
        id.parse::<CertificateId>()
            .map(Trigger::CaCertificate)
            .map_err(|_| {
                malformed(
                    FAMILY,
                    format!("{name}: `{field}` is not a CA certificate id or ARN"),
                )
            })
    };
    // A principal or target may be a certificate, a thing group (policy targets), or
    // something we do not replicate (a Cognito identity): that yields no trigger.
    let principal = |value: &Value, field: &str| -> Result<Vec<Trigger>, EventError> {
        let raw = text(value, field, FAMILY)?;
        Ok(CertificateId::from_arn(raw)
            .map(Trigger::Certificate)
            .or_else(|| ThingGroupName::from_arn(raw).map(Trigger::ThingGroup))
            .into_iter()
            .collect())
    };
    let group = |value: &Value| -> Result<Trigger, EventError> {
        text(value, "thingGroupName", FAMILY)?
            .parse()
            .map(Trigger::ThingGroup)
            .map_err(|e| malformed(FAMILY, format!("{name}: thingGroupName: {e}")))
    };
    // Membership calls name the thing by name or by ARN.
    let member = |value: &Value| -> Result<Trigger, EventError> {
        let raw = match value.get("thingName").and_then(Value::as_str) {
            Some(name) => name,
            None => text(value, "thingArn", FAMILY)?
                .rsplit_once(":thing/")
                .map(|(_, name)| name)
                .ok_or_else(|| {
                    malformed(FAMILY, format!("{name}: `thingArn` is not a thing ARN"))
                })?,
        };
        raw.parse()
            .map(Trigger::Thing)
            .map_err(|e| malformed(FAMILY, format!("{name}: thingName: {e}")))
    };
    let policy = |value: &Value| -> Result<Trigger, EventError> {
        text(value, "policyName", FAMILY)?
            .parse()
            .map(Trigger::Policy)
            .map_err(|e| malformed(FAMILY, format!("{name}: policyName: {e}")))
    };

    // A call that failed changed nothing.
    let failed = detail.get("errorCode").is_some_and(|code| !code.is_null());
    let triggers = if failed {
        Vec::new()
    } else {
        match name {
            "RegisterCertificate"
            | "RegisterCertificateWithoutCA"
            | "CreateKeysAndCertificate"
            | "CreateCertificateFromCsr" => {
                let from_id = certificate(response, "certificateId");
                vec![from_id.or_else(|_| certificate(response, "certificateArn"))?]
            }
            // A certificate leaving primary's account is PENDING_TRANSFER there (INACTIVE in
            // DR) until accepted, and gone after; a cancelled or rejected transfer leaves it
            // INACTIVE. Each is a status change like UpdateCertificate's.
            "UpdateCertificate"
            | "DeleteCertificate"
            | "TransferCertificate"
            | "CancelCertificateTransfer"
            | "RejectCertificateTransfer"
            | "AcceptCertificateTransfer" => {
                vec![certificate(request, "certificateId")?]
            }
            "RegisterCACertificate" => {
                vec![ca(response, "certificateId").or_else(|_| ca(response, "certificateArn"))?]
            }
            "UpdateCACertificate" | "DeleteCACertificate" => {
                vec![ca(request, "certificateId")?]
            }
            "CreateThingType" | "UpdateThingType" | "DeprecateThingType" | "DeleteThingType" => {
                let thing_type = text(request, "thingTypeName", FAMILY)?;
                if !crate::replication::records::valid_thing_type_name(thing_type) {
                    return Err(malformed(
                        FAMILY,
                        format!("{name}: {thing_type:?} is not a valid thing type name"),
                    ));
                }
                vec![Trigger::ThingType(thing_type.to_owned())]
            }
            "AttachPolicy" | "DetachPolicy" => principal(request, "target")?,
            "AttachPrincipalPolicy"
            | "DetachPrincipalPolicy"
            | "AttachThingPrincipal"
            | "DetachThingPrincipal" => principal(request, "principal")?,
            "CreatePolicyVersion" | "SetDefaultPolicyVersion" => vec![policy(request)?],
            "CreateThingGroup"
            | "UpdateThingGroup"
            | "DeleteThingGroup"
            | "CreateDynamicThingGroup"
            | "UpdateDynamicThingGroup"
            | "DeleteDynamicThingGroup" => vec![group(request)?],
            "AddThingToThingGroup" | "RemoveThingFromThingGroup" | "UpdateThingGroupsForThing" => {
                vec![member(request)?]
            }
            "CreateRoleAlias" | "UpdateRoleAlias" | "DeleteRoleAlias" => {
                vec![text(request, "roleAlias", FAMILY)?
                    .parse()
                    .map(Trigger::RoleAlias)
                    .map_err(|e| malformed(FAMILY, format!("{name}: roleAlias: {e}")))?]
            }
            "CreateProvisioningTemplate"
            | "UpdateProvisioningTemplate"
            | "DeleteProvisioningTemplate"
            | "CreateProvisioningTemplateVersion"
            | "DeleteProvisioningTemplateVersion" => {
                vec![text(request, "templateName", FAMILY)?
                    .parse()
                    .map(Trigger::ProvisioningTemplate)
                    .map_err(|e| malformed(FAMILY, format!("{name}: templateName: {e}")))?]
            }
            other => return Err(EventError::UnsupportedApiCall(other.to_owned())),
        }
    };
    let detached = match (name, failed) {
        ("DetachThingPrincipal", false) => {
            let thing = request.get("thingName").and_then(Value::as_str);
            let principal = request.get("principal").and_then(Value::as_str);
            match (
                thing.and_then(|t| t.parse().ok()),
                principal.and_then(CertificateId::from_arn),
            ) {
                (Some(thing), Some(id)) => vec![(thing, id)],
                _ => Vec::new(),
            }
        }
        _ => Vec::new(),
    };
    Ok(CaptureEvent {
        cause: name.to_owned(),
        event_time_ms,
        triggers,
        subjects: Vec::new(),
        detached,
    })
}

/// Read the current state of every subject an event touched and build one message each.
/// `now` is read before each subject's reads: the state seen is at least that new.
pub async fn capture<S: DeviceRegistry + Sync>(
    event: &CaptureEvent,
    primary: &S,
    source: &SourceRef,
    now: impl Fn() -> EpochMillis,
) -> Result<Vec<ReplicationMessage>, PortError> {
    let message = |subject: Subject, observed_at_ms: EpochMillis| ReplicationMessage {
        schema_version: SCHEMA_VERSION,
        source: source.clone(),
        cause: event.cause.clone(),
        event_time_ms: event.event_time_ms,
        observed_at_ms,
        subject,
    };
    let mut messages = Vec::new();
    await_detachments(event, primary, tokio::time::sleep).await?;
    let mut triggers: BTreeSet<Trigger> = event.triggers.iter().cloned().collect();
    // Fleet provisioning's RegisterThing (and its CreateKeysAndCertificate) are device-side
    // MQTT calls, which CloudTrail does not record; the registry's thing-created event is
    // the only trace. So a new thing brings its certificates along (the reconciler's status
    // pass catches one attached after the event).
    if event.cause == "thing-created" {
        for trigger in &event.triggers {
            if let Trigger::Thing(name) = trigger {
                for id in primary.thing_certificates(name).await? {
                    triggers.insert(Trigger::Certificate(id));
                }
            }
        }
    }
    for subject in &event.subjects {
        messages.push(message(subject.clone(), now()));
    }
    for trigger in &triggers {
        let observed_at_ms = now();
        let subject = match trigger {
            Trigger::Certificate(id) => certificate_subject(id, primary).await?,
            Trigger::Thing(name) => match primary.thing(name).await? {
                Some(mut thing) => {
                    thing.groups = Some(primary.thing_memberships(name).await?);
                    // Its type's properties travel beside it: DR creates a type the thing
                    // needs bare when the thing arrives first.
                    let untold = |t: &String| !triggers.contains(&Trigger::ThingType(t.clone()));
                    if let Some(thing_type) = thing.thing_type.as_ref().filter(|t| untold(t)) {
                        if let Some(record) = primary.thing_type(thing_type).await? {
                            messages.push(message(Subject::ThingType(record), observed_at_ms));
                        }
                    }
                    Subject::Thing(thing)
                }
                None => Subject::ThingDeleted {
                    thing_name: name.clone(),
                },
            },
            Trigger::ThingGroup(name) => match primary.thing_group(name).await? {
                Some(mut group) => {
                    group.policies = primary.thing_group_policies(name).await?;
                    Subject::ThingGroup(group)
                }
                None => Subject::ThingGroupDeleted {
                    group_name: name.clone(),
                },
            },
            Trigger::RoleAlias(name) => match primary.role_alias(name).await? {
                Some(alias) => Subject::RoleAlias(alias),
                None => Subject::RoleAliasDeleted {
                    role_alias: name.clone(),
                },
            },
            Trigger::ProvisioningTemplate(name) => {
                match primary.provisioning_template(name).await? {
                    Some(mut template) => {
                        for policy in template.named_policies() {
                            // A policy the body names but primary lacks fails provisioning
                            // there too: nothing to carry for it.
                            if let Some(record) = primary.policy(&policy).await? {
                                template.policies.push(record);
                            }
                        }
                        Subject::ProvisioningTemplate(template)
                    }
                    None => Subject::ProvisioningTemplateDeleted {
                        template_name: name.clone(),
                    },
                }
            }
            Trigger::ThingType(name) => match primary.thing_type(name).await? {
                Some(record) => Subject::ThingType(record),
                None => Subject::ThingTypeDeleted {
                    thing_type_name: name.clone(),
                },
            },
            Trigger::CaCertificate(id) => match primary.ca_certificate(id).await? {
                Some(record) => Subject::CaCertificate(record),
                None => Subject::CaCertificateDeleted {
                    ca_certificate_id: id.clone(),
                },
            },
            Trigger::Policy(name) => match primary.policy(name).await? {
                Some(policy) => Subject::Policy(policy),
                // Deleted policies are detached everywhere first; nothing left to carry.
                None => continue,
            },
        };
        messages.push(message(subject, observed_at_ms));
    }
    Ok(messages)
}

/// How long capture waits for a detachment to show in primary before reading: AWS's
/// DetachThingPrincipal "is asynchronous. It might take several seconds for the detachment to
/// propagate", and a read before that would publish the certificate still attached (DR would
/// keep the link until the reconciler's next pass). 5.75 s in all, inside capture's 60 s.
pub const DETACH_SETTLE_PAUSES: [Duration; 5] = [
    Duration::from_millis(250),
    Duration::from_millis(500),
    Duration::from_millis(1_000),
    Duration::from_millis(2_000),
    Duration::from_millis(2_000),
];

/// Wait, pause by pause, until none of `event`'s detached pairs is still listed in primary.
/// After the last pause capture reads what is there: the thing attached again meanwhile (a
/// later event's state, which this message then carries too) or a slow propagation the
/// reconciler mends.
pub async fn await_detachments<S, F>(
    event: &CaptureEvent,
    primary: &S,
    sleep: impl Fn(Duration) -> F,
) -> Result<(), PortError>
where
    S: CertificateRegistry + Sync,
    F: std::future::Future<Output = ()>,
{
    for (thing, id) in &event.detached {
        let mut pauses = DETACH_SETTLE_PAUSES.iter();
        while primary.certificate_things(id).await?.contains(thing) {
            let Some(pause) = pauses.next() else {
                tracing::warn!(%thing, certificate = %id, "detachment not yet visible in primary; reading as it is");
                break;
            };
            sleep(*pause).await;
        }
    }
    Ok(())
}

async fn certificate_subject<S: CertificateRegistry + Sync>(
    id: &CertificateId,
    primary: &S,
) -> Result<Subject, PortError> {
    let Some(view) = primary.certificate(id).await? else {
        return Ok(Subject::CertificateDeleted {
            certificate_id: id.clone(),
        });
    };
    let ca = match view.ca_certificate_id {
        Some(ca_id) => Some(CaRecord {
            ca_certificate_pem: primary.ca_certificate_pem(&ca_id).await?,
            ca_certificate_id: ca_id,
        }),
        None => None,
    };
    let mut things = Vec::new();
    for (name, association) in primary.certificate_thing_associations(id).await? {
        if let Some(thing) = primary.thing(&name).await? {
            things.push(ThingRecord {
                association,
                ..thing
            });
        }
    }
    Ok(Subject::Certificate(CertificateRecord {
        certificate_id: id.clone(),
        certificate_pem: view.pem,
        status: view.status,
        last_modified_ms: view.last_modified_ms,
        ca,
        things,
        policies: primary.certificate_policies(id).await?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "5d5ee0d2e0d85b8bd5b4e4ad1b0a8fd3a6c27a78b6d5dbe6c4c1d3e1f5a9b8c7";

    macro_rules! fixture {
        ($name:literal) => {
            serde_json::from_str::<Value>(include_str!(concat!(
                "../../../../tests/fixtures/events/",
                $name,
                ".json"
            )))
            .unwrap()
        };
    }

    fn certificate() -> Vec<Trigger> {
        vec![Trigger::Certificate(ID.parse().unwrap())]
    }

    #[test]
    fn every_captured_event_kind_parses_from_its_real_shape() {
        let thing = || vec![Trigger::Thing("wearable-0042".parse().unwrap())];
        let policy = || vec![Trigger::Policy("wearable-policy".parse().unwrap())];
        let group = || vec![Trigger::ThingGroup("ward-7".parse().unwrap())];
        let alias = || vec![Trigger::RoleAlias("wearable-uploads".parse().unwrap())];
        let template = || {
            vec![Trigger::ProvisioningTemplate(
                "wearable-enrolment".parse().unwrap(),
            )]
        };
        let cases: Vec<(Value, &str, Vec<Trigger>)> = vec![
            (fixture!("jitr-registered"), "jitr", certificate()),
            (fixture!("thing-created"), "thing-created", thing()),
            (fixture!("thing-updated"), "thing-updated", thing()),
            (fixture!("thing-deleted"), "thing-deleted", thing()),
            (
                fixture!("thing-group-membership-added"),
                "membership-added",
                thing(),
            ),
            (
                fixture!("cloudtrail-RegisterCertificate"),
                "RegisterCertificate",
                certificate(),
            ),
            (
                fixture!("cloudtrail-RegisterCertificateWithoutCA"),
                "RegisterCertificateWithoutCA",
                certificate(),
            ),
            (
                fixture!("cloudtrail-CreateKeysAndCertificate"),
                "CreateKeysAndCertificate",
                certificate(),
            ),
            (
                fixture!("cloudtrail-CreateCertificateFromCsr"),
                "CreateCertificateFromCsr",
                certificate(),
            ),
            (
                fixture!("cloudtrail-UpdateCertificate"),
                "UpdateCertificate",
                certificate(),
            ),
            (
                fixture!("cloudtrail-DeleteCertificate"),
                "DeleteCertificate",
                certificate(),
            ),
            (
                fixture!("cloudtrail-TransferCertificate"),
                "TransferCertificate",
                certificate(),
            ),
            (
                fixture!("cloudtrail-UpdateThingType"),
                "UpdateThingType",
                vec![Trigger::ThingType("wearable-v2".to_owned())],
            ),
            (
                fixture!("cloudtrail-UpdateCACertificate"),
                "UpdateCACertificate",
                vec![Trigger::CaCertificate(
                    "9a1c6b5e3d2f4a7b8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d"
                        .parse()
                        .unwrap(),
                )],
            ),
            (
                fixture!("cloudtrail-AttachPolicy"),
                "AttachPolicy",
                certificate(),
            ),
            (
                fixture!("cloudtrail-DetachPolicy"),
                "DetachPolicy",
                certificate(),
            ),
            (
                fixture!("cloudtrail-AttachThingPrincipal"),
                "AttachThingPrincipal",
                certificate(),
            ),
            (
                fixture!("cloudtrail-DetachThingPrincipal"),
                "DetachThingPrincipal",
                certificate(),
            ),
            (
                fixture!("cloudtrail-CreatePolicyVersion"),
                "CreatePolicyVersion",
                policy(),
            ),
            (
                fixture!("cloudtrail-SetDefaultPolicyVersion"),
                "SetDefaultPolicyVersion",
                policy(),
            ),
            (
                fixture!("cloudtrail-CreateThingGroup"),
                "CreateThingGroup",
                group(),
            ),
            (
                fixture!("cloudtrail-UpdateThingGroup"),
                "UpdateThingGroup",
                group(),
            ),
            (
                fixture!("cloudtrail-DeleteThingGroup"),
                "DeleteThingGroup",
                group(),
            ),
            (
                fixture!("cloudtrail-AddThingToThingGroup"),
                "AddThingToThingGroup",
                thing(),
            ),
            (
                fixture!("cloudtrail-RemoveThingFromThingGroup"),
                "RemoveThingFromThingGroup",
                thing(),
            ),
            (
                fixture!("cloudtrail-UpdateThingGroupsForThing"),
                "UpdateThingGroupsForThing",
                thing(),
            ),
            (
                fixture!("cloudtrail-CreateRoleAlias"),
                "CreateRoleAlias",
                alias(),
            ),
            (
                fixture!("cloudtrail-UpdateRoleAlias"),
                "UpdateRoleAlias",
                alias(),
            ),
            (
                fixture!("cloudtrail-DeleteRoleAlias"),
                "DeleteRoleAlias",
                alias(),
            ),
            (
                fixture!("cloudtrail-CreateProvisioningTemplate"),
                "CreateProvisioningTemplate",
                template(),
            ),
            (
                fixture!("cloudtrail-UpdateProvisioningTemplate"),
                "UpdateProvisioningTemplate",
                template(),
            ),
            (
                fixture!("cloudtrail-DeleteProvisioningTemplate"),
                "DeleteProvisioningTemplate",
                template(),
            ),
            (
                fixture!("cloudtrail-CreateProvisioningTemplateVersion"),
                "CreateProvisioningTemplateVersion",
                template(),
            ),
            (
                fixture!("cloudtrail-DeleteProvisioningTemplateVersion"),
                "DeleteProvisioningTemplateVersion",
                template(),
            ),
        ];
        for (event, cause, triggers) in cases {
            let parsed = parse_event(&event).unwrap_or_else(|e| panic!("{cause}: {e}"));
            assert_eq!(parsed.cause, cause);
            assert_eq!(parsed.triggers, triggers, "{cause}");
            assert!(
                parsed.event_time_ms > 1_700_000_000_000,
                "{cause}: {}",
                parsed.event_time_ms
            );
        }
    }

    #[test]
    fn shadow_documents_and_deletions_parse_into_ready_made_subjects() {
        let update = parse_event(&fixture!("shadow-update-documents")).unwrap();
        assert_eq!(update.cause, "shadow-update");
        assert!(update.triggers.is_empty(), "nothing to read in primary");
        let Subject::Shadow(shadow) = &update.subjects[0] else {
            panic!("{update:?}");
        };
        assert_eq!(shadow.thing_name.as_str(), "wearable-0042");
        assert_eq!(shadow.shadow_name, None);
        assert_eq!(shadow.current.version, 42);
        assert_eq!(shadow.current.timestamp, 1_763_787_600);
        assert_eq!(shadow.previous.as_ref().unwrap().version, 41);
        assert_eq!(update.event_time_ms, 1_763_787_600_000);

        let named = parse_event(&fixture!("shadow-named-update-documents")).unwrap();
        let Subject::Shadow(shadow) = &named.subjects[0] else {
            panic!("{named:?}");
        };
        assert_eq!(shadow.shadow_name.as_deref(), Some("alerts"));
        assert_eq!(shadow.previous, None, "the update created the shadow");

        let deleted = parse_event(&fixture!("shadow-delete-accepted")).unwrap();
        assert_eq!(deleted.subjects[0].kind(), "shadow_deleted");
        assert_eq!(deleted.subjects[0].key(), "shadow#wearable-0042");
    }

    #[test]
    fn a_failed_api_call_triggers_nothing() {
        let mut event = fixture!("cloudtrail-UpdateCertificate");
        event["detail"]["errorCode"] = "CertificateStateException".into();
        assert!(parse_event(&event).unwrap().triggers.is_empty());
    }

    #[test]
    fn a_policy_attached_to_a_thing_group_triggers_the_group() {
        for call in ["cloudtrail-AttachPolicy", "cloudtrail-DetachPolicy"] {
            let mut event = match call {
                "cloudtrail-AttachPolicy" => fixture!("cloudtrail-AttachPolicy"),
                _ => fixture!("cloudtrail-DetachPolicy"),
            };
            event["detail"]["requestParameters"]["target"] =
                "arn:aws:iot:us-east-1:111111111111:thinggroup/ward-7".into();
            assert_eq!(
                parse_event(&event).unwrap().triggers,
                vec![Trigger::ThingGroup("ward-7".parse().unwrap())],
                "{call}"
            );
        }
        // A Cognito identity is still nothing we replicate.
        let mut event = fixture!("cloudtrail-AttachPolicy");
        event["detail"]["requestParameters"]["target"] =
            "us-east-1:0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0".into();
        assert!(parse_event(&event).unwrap().triggers.is_empty());
    }

    #[test]
    fn unknown_and_malformed_events_say_why() {
        let mut other_call = fixture!("cloudtrail-UpdateCertificate");
        other_call["detail"]["eventName"] = "CreateTopicRule".into();
        assert_eq!(
            parse_event(&other_call).unwrap_err(),
            EventError::UnsupportedApiCall("CreateTopicRule".to_owned())
        );
        assert_eq!(
            parse_event(&serde_json::json!({"hello": 1})).unwrap_err(),
            EventError::Unrecognised
        );
        let mut bad_id = fixture!("jitr-registered");
        bad_id["certificateId"] = "not-an-id".into();
        assert!(parse_event(&bad_id)
            .unwrap_err()
            .to_string()
            .contains("certificateId"));
        let mut no_time = fixture!("thing-updated");
        no_time.as_object_mut().unwrap().remove("timestamp");
        assert!(parse_event(&no_time)
            .unwrap_err()
            .to_string()
            .contains("timestamp"));
    }

    #[test]
    fn a_detachment_is_waited_for_until_primary_shows_it_and_no_longer() {
        use crate::replication::fake::FakeRegistry;
        use std::cell::Cell;

        let event = parse_event(&fixture!("cloudtrail-DetachThingPrincipal")).unwrap();
        let thing: ThingName = "wearable-0042".parse().unwrap();
        let id = CertificateId::from_arn(
            event_request_principal(&fixture!("cloudtrail-DetachThingPrincipal")).as_str(),
        )
        .unwrap();
        assert_eq!(event.detached, vec![(thing.clone(), id.clone())]);
        fn run<F: std::future::Future>(future: F) -> F::Output {
            tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap()
                .block_on(future)
        }

        // Still listed at first (AWS propagates a detachment in seconds): capture pauses,
        // and reads once it has gone.
        let primary = FakeRegistry::default();
        let link = (id.clone(), thing.clone());
        primary.world.lock().unwrap().thing_links.insert(
            link.clone(),
            crate::replication::records::ThingAssociation::NonExclusive,
        );
        let pauses = Cell::new(0);
        run(await_detachments(&event, &primary, |_| {
            pauses.set(pauses.get() + 1);
            if pauses.get() == 2 {
                primary.world.lock().unwrap().thing_links.remove(&link);
            }
            std::future::ready(())
        }))
        .unwrap();
        assert_eq!(pauses.get(), 2);

        // Never gone (attached again meanwhile): every pause, then read as it is.
        primary.world.lock().unwrap().thing_links.insert(
            link.clone(),
            crate::replication::records::ThingAssociation::NonExclusive,
        );
        pauses.set(0);
        run(await_detachments(&event, &primary, |_| {
            pauses.set(pauses.get() + 1);
            std::future::ready(())
        }))
        .unwrap();
        assert_eq!(pauses.get(), DETACH_SETTLE_PAUSES.len());

        // Any other event waits for nothing; a failed detach neither.
        let mut failed = fixture!("cloudtrail-DetachThingPrincipal");
        failed["detail"]["errorCode"] = "ResourceNotFoundException".into();
        assert!(parse_event(&failed).unwrap().detached.is_empty());
        assert!(parse_event(&fixture!("cloudtrail-AttachThingPrincipal"))
            .unwrap()
            .detached
            .is_empty());
    }

    fn event_request_principal(event: &Value) -> String {
        event["detail"]["requestParameters"]["principal"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}
