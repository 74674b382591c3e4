"""Launch the local two-account AWS sandbox: a moto server on loopback.

Started by `dr-sandbox` (the Rust launcher), never by hand in tests. It:

* binds 127.0.0.1 only (the machine may never send traffic elsewhere), on the port it is
  given or, with port 0, on a free one;
* prints exactly one line `READY <host> <port>` on stdout once the server accepts
  connections, so the caller learns the port without racing for it;
* with --exit-with-parent, exits when its stdin reaches end-of-file, i.e. when the process
  that started it has gone away (a crashed or killed test run leaves no server behind);
* exits cleanly on SIGTERM/SIGINT;
* applies narrow patches to moto (below), each making it behave as AWS does: the DR
  account can copy an RDS snapshot the primary account shared with it, in its own Region
  only (across Regions and accounts is two steps); IoT certificate ids
  are SHA-256 of the DER; DescribeCertificate reports the CA a certificate was registered
  with; ListCertificates pages; a CloudWatch-metric health check keeps the alarm it
  follows; ListCACertificates answers; the IoT listings readiness reads (CAs, policies,
  domain configurations, role aliases, thing groups, topic rules) page by AWS's default
  of 25; a domain configuration keeps its TLS policy; a CA keeps its auto-registration
  status; a thing
  type is created once and updated in place; an encrypted database reports its key by ARN;
  a health check that follows an alarm reports what the alarm's data stream said period
  after period (evaluated continuously, with its history); IoT
  fleet-provisioning templates and their versions exist; a DB subnet group's name is taken
  once; a thing sits in one group per hierarchy and ten groups at most; a principal
  detached from a thing stays attached for a moment; a principal attached to a thing keeps
  how (exclusively or not), and the v2 listings report, filter and page it; a shadow GET
  answers with its response time, and an update stamps only the leaves it sets; a policy
  on a thing group does not break DeleteCertificate; an RDS restore stays `creating` for a
  while, and a restored cluster takes DB instances only once available.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading


# How far a replicated automated backup's latest restorable time trails the present.
REPLICATION_LAG_SECONDS = 300


def patch_rds_cross_account_snapshot_lookup() -> None:
    """Let an account read an RDS snapshot that another account shared with it.

    moto 5.2.5 resolves a snapshot ARN only inside the *caller's* account, so
    CopyDBSnapshot / CopyDBClusterSnapshot / RestoreDBInstanceFromDBSnapshot with the ARN
    of a snapshot owned by another account fails even when that account shared it. AWS
    allows the access when the caller's account id (or "all") is in the snapshot's
    `restore` attribute, and answers DBSnapshotNotFound otherwise. We add exactly that
    rule and nothing more: same-account lookups keep moto's own code path.
    """
    from moto.rds import models as rds_models
    from moto.rds.utils import split_arn

    original_get_snapshot = rds_models.RDSBackend.get_snapshot

    def get_snapshot(self, identifier, resource_type, not_found_exception):  # type: ignore[no-untyped-def]
        if not identifier.startswith("arn:"):
            return original_get_snapshot(self, identifier, resource_type, not_found_exception)
        region, owner_account, _, name = split_arn(identifier)
        if owner_account == self.account_id:
            return original_get_snapshot(self, identifier, resource_type, not_found_exception)
        owner_backend = self.get_backend("rds", region=region, account_id=owner_account)
        snapshot = owner_backend.resource_map[resource_type].get(name)
        if snapshot is None:
            raise not_found_exception(identifier)
        shared_with = snapshot.attributes.get("restore", [])
        if self.account_id not in shared_with and "all" not in shared_with:
            # AWS does not reveal that an unshared snapshot exists.
            raise not_found_exception(identifier)
        if region != self.region_name:
            # Aurora's user guide: "You can't copy a DB cluster snapshot across Regions
            # and accounts in a single step. Perform one step for each of these copy
            # actions." (RDS's DB snapshots long had the same rule; a shared snapshot is
            # also restorable only in its own Region.) Strict for both kinds, so code that
            # passes here works under either rule: copy it within its Region first.
            from moto.rds.exceptions import InvalidParameterCombination

            raise InvalidParameterCombination(
                f"{identifier} is shared from another account and lives in {region}, "
                f"not {self.region_name}: copy it within {region} first, then across Regions"
            )
        return snapshot

    rds_models.RDSBackend.get_snapshot = get_snapshot


def patch_iot_describe_certificate_ca_id() -> None:
    """Return `caCertificateId` from DescribeCertificate, as AWS does.

    moto 5.2.5 records the CA a certificate was registered with but leaves it out of the
    description, so neither capture (reading primary) nor a test (reading DR) could tell a
    CA-registered certificate from one registered without a CA.
    """
    from moto.iot import models as iot_models

    original = iot_models.FakeCertificate.to_description_dict

    def to_description_dict(self):  # type: ignore[no-untyped-def]
        description = original(self)
        if self.ca_certificate_id is not None:
            description["caCertificateId"] = self.ca_certificate_id
        return description

    iot_models.FakeCertificate.to_description_dict = to_description_dict


def patch_iot_list_certificates_pagination() -> None:
    """Page ListCertificates by `pageSize` and `marker`, as AWS does.

    moto 5.2.5 ignores both and returns every certificate at once, so a reconciler that
    checkpoints between pages could never be tested. Pages follow creation order (AWS's
    default order), or newest first with `isAscendingOrder=false`; the marker names the last
    certificate of the previous page by creation time and id, so deleting a certificate
    mid-listing skips nothing. Without `pageSize` the whole list comes back, as before.
    """
    from moto.core.responses import ActionResult
    from moto.iot import responses as iot_responses

    def list_certificates(self):  # type: ignore[no-untyped-def]
        page_size = self._get_int_param("pageSize")
        marker = self._get_param("marker")
        # `isAscendingOrder=false`: newest first (the marker then counts down).
        descending = str(self._get_param("isAscendingOrder", "true")).lower() == "false"
        key = lambda c: (c.creation_date.isoformat(), c.certificate_id)  # noqa: E731
        ordered = sorted(self.iot_backend.list_certificates(), key=key, reverse=descending)
        if marker:
            after = tuple(marker.split("|", 1))
            ordered = [c for c in ordered if (key(c) < after if descending else key(c) > after)]
        result = {"certificates": [c.to_dict() for c in ordered[:page_size]]}
        if page_size and len(ordered) > page_size:
            last = ordered[page_size - 1]
            result["nextMarker"] = f"{last.creation_date.isoformat()}|{last.certificate_id}"
        return ActionResult(result)

    iot_responses.IoTResponse.list_certificates = list_certificates


def patch_route53_cloudwatch_health_checks() -> None:
    """Keep a CLOUDWATCH_METRIC health check's alarm, as AWS does.

    moto 5.2.5 accepts `AlarmIdentifier` and `InsufficientDataHealthStatus` in
    CreateHealthCheck but drops them, so a health check read back does not say which alarm
    it follows and the failover switch could not verify its own setup. We store both and
    return them in the configuration; nothing else changes.
    """
    from moto.route53 import models as route53_models
    from moto.route53 import responses as route53_responses

    original_create = route53_responses.Route53.create_health_check

    def create_health_check(self):  # type: ignore[no-untyped-def]
        config = self._get_param("HealthCheckConfig") or {}
        result = original_create(self)
        health_check = result.result["HealthCheck"]
        health_check.alarm_identifier = config.get("AlarmIdentifier")
        health_check.insufficient_data_health_status = config.get("InsufficientDataHealthStatus")
        return result

    original_config = route53_models.HealthCheck.health_check_config

    def health_check_config(self):  # type: ignore[no-untyped-def]
        config = original_config.fget(self)
        if getattr(self, "alarm_identifier", None):
            config["AlarmIdentifier"] = self.alarm_identifier
        if getattr(self, "insufficient_data_health_status", None):
            config["InsufficientDataHealthStatus"] = self.insufficient_data_health_status
        return config

    route53_responses.Route53.create_health_check = create_health_check
    route53_models.HealthCheck.health_check_config = property(health_check_config)


def patch_route53_alarm_health_check_status() -> None:
    """Model a CLOUDWATCH_METRIC health check as Route 53 does: from the alarm's data stream,
    period after period, whether or not anyone reads it.

    AWS: "Route 53 monitors the data stream for the corresponding alarm instead of
    monitoring the alarm state" (developer guide, "How Route 53 determines the status of
    health checks that monitor CloudWatch alarms"); when CloudWatch has insufficient data the
    health check takes its InsufficientDataHealthStatus (LastKnownStatus: the status from the
    last time there was enough data; healthy for a new one). moto 5.2.5 answers "Success"
    for every health check, so the sandbox could not show where DNS points.

    A ticker evaluates every health check once per elapsed alarm period, in order, on that
    period's datapoints (periods aligned to the epoch, as CloudWatch's are) with the alarm's
    statistic, threshold, comparison, evaluation periods, datapoints to alarm and missing-data
    treatment, and keeps the status history. So the status after a single datapoint and then
    silence is what Route 53 would have said, not what the last reader happened to see: a
    failover's one 0 followed by a silent stream stays unhealthy (last known), and a late 1
    alone in a later period turns it healthy. A read also evaluates the period in progress
    when it holds data, so a flip is visible at once (AWS lags a minute or two; the README
    notes there is no lag here).
    """
    import calendar
    import collections
    import threading
    import time

    from moto.cloudwatch.models import MetricDatum, cloudwatch_backends
    from moto.core.responses import ActionResult
    from moto.core.utils import utcnow
    from moto.route53 import models as route53_models
    from moto.route53 import responses as route53_responses

    original = route53_responses.Route53.get_health_check_status
    lock = threading.RLock()
    history_kept = 1440

    compare = {
        "GreaterThanOrEqualToThreshold": lambda v, t: v >= t,
        "GreaterThanThreshold": lambda v, t: v > t,
        "LessThanThreshold": lambda v, t: v < t,
        "LessThanOrEqualToThreshold": lambda v, t: v <= t,
    }
    statistics = {
        "Minimum": min,
        "Maximum": max,
        "Sum": sum,
        "SampleCount": len,
        "Average": lambda values: sum(values) / len(values),
    }

    def epoch(moment):  # type: ignore[no-untyped-def]
        if moment.tzinfo is not None:
            return moment.timestamp()
        return calendar.timegm(moment.utctimetuple()) + moment.microsecond / 1e6

    def alarm_of(account, identifier):  # type: ignore[no-untyped-def]
        backend = cloudwatch_backends[account][identifier["Region"]]
        return backend, backend.alarms.get(identifier["Name"])

    def judge(backend, alarm, start, end):  # type: ignore[no-untyped-def]
        """One period: "breaching", "ok" or "missing" (after the missing-data treatment)."""
        wanted = {(d.name, d.value) for d in alarm.dimensions}
        values = [
            datum.value
            for datum in list(backend.metric_data)
            if isinstance(datum, MetricDatum)
            and datum.namespace == alarm.namespace
            and datum.name == alarm.metric_name
            and {(d.name, d.value) for d in datum.dimensions} == wanted
            and start <= epoch(datum.timestamp) < end
        ]
        if not values:
            treat = alarm.treat_missing_data or "missing"
            verdict = {"breaching": "breaching", "notBreaching": "ok"}.get(treat, "missing")
            return verdict, f"no data in the {alarm.period} s period (missing data: {treat})"
        value = statistics[alarm.statistic](values)
        breaching = compare[alarm.comparison_operator](value, float(alarm.threshold))
        words = f"{alarm.statistic} {value} over {alarm.period} s, threshold {alarm.threshold}"
        return ("breaching" if breaching else "ok"), words

    def verdict_of(alarm, judgments):  # type: ignore[no-untyped-def]
        """Healthy, unhealthy or None (insufficient data) over the last evaluation periods."""
        recent = list(judgments)[-int(alarm.evaluation_periods or 1) :]
        if all(j == "missing" for j in recent):
            return None
        needed = int(alarm.datapoints_to_alarm or alarm.evaluation_periods or 1)
        return sum(j == "breaching" for j in recent) < needed

    def resolve(health_check, healthy):  # type: ignore[no-untyped-def]
        if healthy is not None:
            return healthy
        setting = getattr(health_check, "insufficient_data_health_status", None) or "LastKnownStatus"
        if setting == "Healthy":
            return True
        if setting == "Unhealthy":
            return False
        return health_check.r53_last_known

    def advance(account, health_check, now):  # type: ignore[no-untyped-def]
        """Evaluate, in order, every period of the alarm that ended since the last time."""
        identifier = getattr(health_check, "alarm_identifier", None)
        if health_check.type_ != "CLOUDWATCH_METRIC" or not identifier:
            return None
        backend, alarm = alarm_of(account, identifier)
        if alarm is None:
            return None
        if not hasattr(health_check, "r53_last_known"):
            health_check.r53_last_known = True  # a new health check is healthy
            health_check.r53_judgments = collections.deque(maxlen=100)
            health_check.r53_history = collections.deque(maxlen=history_kept)
            health_check.r53_next_period = None
            health_check.r53_words = "no data yet"
        period = int(alarm.period)
        current = int(now // period)
        if health_check.r53_next_period is None:
            health_check.r53_next_period = current
        # A catch-up after a long pause (the sandbox suspended) needs no more than the
        # evaluation window.
        first = max(health_check.r53_next_period, current - max(int(alarm.evaluation_periods or 1), 1) - 1)
        for index in range(first, current):
            judgment, words = judge(backend, alarm, index * period, (index + 1) * period)
            health_check.r53_judgments.append(judgment)
            healthy = resolve(health_check, verdict_of(alarm, health_check.r53_judgments))
            health_check.r53_last_known = healthy
            health_check.r53_words = words
            health_check.r53_history.append((index * period, healthy, words))
        health_check.r53_next_period = current
        return backend, alarm, current, period

    def tick() -> None:
        while True:
            time.sleep(1)
            try:
                with lock:
                    now = time.time()
                    for account, partitions in list(route53_models.route53_backends.items()):
                        for backend in list(partitions.values()):
                            for health_check in list(backend.health_checks.values()):
                                advance(account, health_check, now)
            except Exception:  # noqa: BLE001 - the ticker must outlive one odd item
                logging.getLogger(__name__).exception("route53 health check model")

    def get_health_check_status(self):  # type: ignore[no-untyped-def]
        health_check_id = self._get_param("HealthCheckId")
        health_check = self.backend.get_health_check(health_check_id)
        identifier = getattr(health_check, "alarm_identifier", None)
        if health_check.type_ != "CLOUDWATCH_METRIC" or not identifier:
            return original(self)
        with lock:
            evaluated = advance(self.current_account, health_check, time.time())
            if evaluated is None:
                healthy = getattr(health_check, "r53_last_known", True)
                words = f"the alarm {identifier['Name']} does not exist"
            else:
                backend, alarm, current, period = evaluated
                judgment, now_words = judge(backend, alarm, current * period, (current + 1) * period)
                if judgment == "missing":
                    healthy, words = health_check.r53_last_known, health_check.r53_words
                else:
                    judgments = list(health_check.r53_judgments) + [judgment]
                    healthy, words = resolve(health_check, verdict_of(alarm, judgments)), now_words
        status = (
            f"Success: the alarm's data stream is OK ({words})"
            if healthy
            else f"Failure: the alarm's data stream is in ALARM ({words})"
        )
        return ActionResult(
            {
                "HealthCheckObservations": [
                    {
                        "Region": identifier["Region"],
                        "IPAddress": "127.0.0.1",
                        "StatusReport": {"Status": status, "CheckedTime": utcnow()},
                    }
                ]
            }
        )

    route53_responses.Route53.get_health_check_status = get_health_check_status
    threading.Thread(target=tick, name="route53-health-checks", daemon=True).start()


def patch_iot_list_ca_certificates() -> None:
    """Answer ListCACertificates, as AWS does.

    moto 5.2.5 stores registered CA certificates but does not implement the listing, so a
    readiness check could not find the CAs primary's devices depend on.
    """
    from moto.core.responses import ActionResult
    from moto.iot import responses as iot_responses

    def list_ca_certificates(self):  # type: ignore[no-untyped-def]
        keys = ("certificateArn", "certificateId", "status", "creationDate")
        certificates = [
            {k: v for k, v in ca.to_dict().items() if k in keys}
            for ca in self.iot_backend.ca_certificates.values()
        ]
        return ActionResult({"certificates": certificates})

    iot_responses.IoTResponse.list_ca_certificates = list_ca_certificates


# AWS documents a default page size of 25 for ListCACertificates (and ListCertificates); for
# the other IoT listings it documents only the range. The sandbox pages those by 25 as well,
# so a reader that stops at the first page fails here before it fails on AWS.
IOT_DEFAULT_PAGE_SIZE = 25


def patch_iot_list_pagination() -> None:
    """Page the IoT listings readiness reads, as AWS does, by default too.

    moto 5.2.5 ignores the paging parameters of ListCACertificates, ListPolicies,
    ListDomainConfigurations, ListRoleAliases (`pageSize`/`marker` → `nextMarker`),
    ListThingGroups and ListTopicRules (`maxResults`/`nextToken` → `nextToken`) and answers
    everything at once, so code reading only the first page passed here and would miss
    whatever AWS puts on the second. Each listing now answers at most the page size asked
    for (1–250; topic rules 1–10,000, the API model's ranges), IOT_DEFAULT_PAGE_SIZE when
    none is given, and a marker that continues after the last item returned; with
    `isAscendingOrder=false` (where the API has it) the order is reversed. Items, filters
    and order are otherwise moto's own (creation order). The marker names the last item
    returned, so deleting an earlier item mid-listing skips nothing.
    """
    import base64

    from moto.core.responses import ActionResult
    from moto.iot import responses as iot_responses
    from moto.iot.exceptions import InvalidRequestException

    def paged(  # type: ignore[no-untyped-def]
        operation: str,
        items_key: str,
        name_of,
        size_param: str = "pageSize",
        marker_param: str = "marker",
        next_key: str = "nextMarker",
        max_size: int = 250,
        ascending_param: str | None = None,
    ) -> None:
        original = getattr(iot_responses.IoTResponse, operation)

        def listing(self):  # type: ignore[no-untyped-def]
            result = dict(original(self).result)
            items = list(result.get(items_key) or [])
            size = self._get_int_param(size_param)
            if size is None:
                size = IOT_DEFAULT_PAGE_SIZE
            if not 1 <= size <= max_size:
                raise InvalidRequestException(f"{size_param} must be between 1 and {max_size}")
            if ascending_param and str(self._get_param(ascending_param, "true")).lower() == "false":
                items.reverse()
            start = 0
            marker = self._get_param(marker_param)
            if marker:
                try:
                    offset, last = base64.b64decode(marker).decode().split("|", 1)
                    offset_value = int(offset)
                except ValueError as e:
                    raise InvalidRequestException(f"{marker_param} is not one this listing returned") from e
                names = [name_of(item) for item in items]
                # After the last item returned; where it stood, if it was deleted since.
                start = names.index(last) + 1 if last in names else min(offset_value, len(items))
            page = items[start : start + size]
            result[items_key] = page
            result.pop(next_key, None)
            if start + size < len(items):
                last = f"{start + size}|{name_of(page[-1])}"
                result[next_key] = base64.b64encode(last.encode()).decode()
            return ActionResult(result)

        setattr(iot_responses.IoTResponse, operation, listing)

    paged("list_ca_certificates", "certificates", lambda c: c["certificateId"], ascending_param="isAscendingOrder")
    paged("list_policies", "policies", lambda p: p["policyName"], ascending_param="isAscendingOrder")
    paged("list_domain_configurations", "domainConfigurations", lambda d: d["domainConfigurationName"])
    paged("list_role_aliases", "roleAliases", lambda name: name, ascending_param="isAscendingOrder")
    paged(
        "list_thing_groups",
        "thingGroups",
        lambda g: g["groupName"],
        size_param="maxResults",
        marker_param="nextToken",
        next_key="nextToken",
    )
    paged(
        "list_topic_rules",
        "rules",
        lambda r: r["ruleName"],
        size_param="maxResults",
        marker_param="nextToken",
        next_key="nextToken",
        max_size=10000,
    )


# AWS IoT's guide: "If you create a new domain configuration, the security policy defaults to
# IoTSecurityPolicy_TLS13_1_2_2022_10."
IOT_DEFAULT_TLS_POLICY = "IoTSecurityPolicy_TLS13_1_2_2022_10"


def patch_iot_domain_configuration_tls_config() -> None:
    """A domain configuration keeps its TLS policy, as AWS does.

    AWS: CreateDomainConfiguration's and UpdateDomainConfiguration's `tlsConfig` set the
    security policy (IoTSecurityPolicy_TLS13_1_2_2022_10 when none is given at creation),
    DescribeDomainConfiguration reports it. moto 5.2.5 drops the parameter and reports none,
    so a DR domain negotiating other TLS versions than primary's looked the same.
    """
    from moto.iot import models as iot_models
    from moto.iot import responses as iot_responses

    original_create = iot_responses.IoTResponse.create_domain_configuration
    original_update = iot_responses.IoTResponse.update_domain_configuration
    original_description = iot_models.FakeDomainConfiguration.to_description_dict

    def policy_asked(self):  # type: ignore[no-untyped-def]
        return (self._get_param("tlsConfig") or {}).get("securityPolicy")

    def create_domain_configuration(self):  # type: ignore[no-untyped-def]
        result = original_create(self)
        name = self._get_param("domainConfigurationName")
        config = self.iot_backend.domain_configurations[name]
        config.tls_security_policy = policy_asked(self) or IOT_DEFAULT_TLS_POLICY
        return result

    def update_domain_configuration(self):  # type: ignore[no-untyped-def]
        result = original_update(self)
        policy = policy_asked(self)
        if policy:
            name = self._get_param("domainConfigurationName")
            self.iot_backend.domain_configurations[name].tls_security_policy = policy
        return result

    def to_description_dict(self):  # type: ignore[no-untyped-def]
        description = original_description(self)
        description["tlsConfig"] = {
            "securityPolicy": getattr(self, "tls_security_policy", IOT_DEFAULT_TLS_POLICY)
        }
        return description

    iot_responses.IoTResponse.create_domain_configuration = create_domain_configuration
    iot_responses.IoTResponse.update_domain_configuration = update_domain_configuration
    iot_models.FakeDomainConfiguration.to_description_dict = to_description_dict


def patch_iot_ca_auto_registration() -> None:
    """A CA certificate keeps its auto-registration status, as AWS does.

    AWS: RegisterCACertificate's `allowAutoRegistration` and UpdateCACertificate's
    `newAutoRegistrationStatus` (ENABLE | DISABLE) set it, DescribeCACertificate reports it as
    `autoRegistrationStatus`. moto 5.2.5 ignores both parameters and reports nothing, so a CA
    whose just-in-time registration primary turned off looked the same in DR whatever DR did.
    """
    from moto.iot import models as iot_models
    from moto.iot import responses as iot_responses

    original_register = iot_responses.IoTResponse.register_ca_certificate
    original_update = iot_responses.IoTResponse.update_ca_certificate
    original_description = iot_models.FakeCaCertificate.to_description_dict

    def register_ca_certificate(self):  # type: ignore[no-untyped-def]
        result = original_register(self)
        allow = self._get_bool_param("allowAutoRegistration") or False
        for ca in self.iot_backend.ca_certificates.values():
            if ca.certificate_pem == self._get_param("caCertificate"):
                ca.auto_registration_status = "ENABLE" if allow else "DISABLE"
        return result

    def update_ca_certificate(self):  # type: ignore[no-untyped-def]
        wanted = self._get_param("newAutoRegistrationStatus")
        if wanted not in (None, "ENABLE", "DISABLE"):
            from moto.iot.exceptions import InvalidRequestException

            raise InvalidRequestException("newAutoRegistrationStatus must be ENABLE or DISABLE")
        result = original_update(self)
        if wanted is not None:
            ca = self.iot_backend.describe_ca_certificate(self.path.split("/")[-1])
            ca.auto_registration_status = wanted
        return result

    def to_description_dict(self):  # type: ignore[no-untyped-def]
        description = original_description(self)
        description["autoRegistrationStatus"] = getattr(self, "auto_registration_status", "DISABLE")
        return description

    iot_responses.IoTResponse.register_ca_certificate = register_ca_certificate
    iot_responses.IoTResponse.update_ca_certificate = update_ca_certificate
    iot_models.FakeCaCertificate.to_description_dict = to_description_dict


def patch_iot_thing_types() -> None:
    """Thing types are updated in place and created once, as on AWS.

    AWS: UpdateThingType (PATCH /thing-types/{thingTypeName}) replaces a type's
    `thingTypeProperties` (description, searchable attributes, MQTT 5 propagating
    attributes); CreateThingType for a name that exists answers ResourceAlreadyExistsException
    unless the request is the same. moto 5.2.5 has no UpdateThingType and lets a second
    CreateThingType replace the type (its properties and its deprecation gone), so a thing
    creating its bare type in DR wiped what the type's own message had set.
    """
    from moto.core.responses import EmptyResult
    from moto.iot import models as iot_models
    from moto.iot import responses as iot_responses
    from moto.iot.exceptions import ResourceAlreadyExistsException

    original_create = iot_models.IoTBackend.create_thing_type

    def create_thing_type(self, thing_type_name, thing_type_properties):  # type: ignore[no-untyped-def]
        for existing in self.thing_types.values():
            if existing.thing_type_name == thing_type_name:
                if (thing_type_properties or {}) == (existing.thing_type_properties or {}):
                    return existing.thing_type_name, existing.arn
                raise ResourceAlreadyExistsException(
                    f"Thing type {thing_type_name} already exists with different properties",
                    thing_type_name,
                    existing.arn,
                )
        return original_create(self, thing_type_name, thing_type_properties)

    def update_thing_type(self):  # type: ignore[no-untyped-def]
        name = self.path.rstrip("/").split("/")[-1]
        thing_type = self.iot_backend.describe_thing_type(name)  # ResourceNotFound, as AWS
        thing_type.thing_type_properties = self._get_param("thingTypeProperties") or {}
        return EmptyResult()

    iot_models.IoTBackend.create_thing_type = create_thing_type
    iot_responses.IoTResponse.update_thing_type = update_thing_type


def patch_iot_provisioning_templates() -> None:
    """Fleet-provisioning templates and their versions, which moto 5.2.5 does not have.

    AWS (IoT API reference: CreateProvisioningTemplate, DescribeProvisioningTemplate,
    ListProvisioningTemplates, UpdateProvisioningTemplate, DeleteProvisioningTemplate,
    CreateProvisioningTemplateVersion, DescribeProvisioningTemplateVersion,
    ListProvisioningTemplateVersions, DeleteProvisioningTemplateVersion, ProvisioningHook;
    developer guide, "Provisioning templates" and "Pre-provisioning hooks"): a template is
    named 1-36 characters of [0-9A-Za-z_-] and has the ARN
    arn:aws:iot:<region>:<account>:provisioningtemplate/<name>; it is created disabled
    unless `enabled` says otherwise, of type FLEET_PROVISIONING unless JITP is asked for (the
    type never changes), with version 1 as its default; a pre-provisioning hook (payload
    version "2020-04-01", the only one there is) is only for FLEET_PROVISIONING templates and
    its target must be a Lambda function. A template has at most five versions (the sixth is
    VersionsLimitExceededException) and its default version cannot be deleted
    (DeleteConflictException, the 409 that call documents).

    Modelled: the documented length and pattern constraints and the JSON-ness of a template
    body (InvalidRequestException), unknown templates and versions (ResourceNotFoundException,
    also for UpdateProvisioningTemplate's defaultVersionId), duplicate names
    (ResourceAlreadyExistsException), a hook and removePreProvisioningHook in one update
    (InvalidRequestException), maxResults/nextToken paging in creation order. State lives on
    the account's and Region's IoT backend, so Regions are separate and a moto reset empties
    it. Not modelled: whether the provisioning role or the hook's Lambda function exist or
    may be assumed/invoked (AWS documents no such check at creation: the hook "must exist in
    your account before you provision a device"), the template body's resources and
    parameters beyond being a JSON object, tags beyond keeping them (moto has no IoT
    tagging), RegisterThing / CreateKeysAndCertificate over MQTT, and
    ConflictingResourceUpdateException (calls here are serialized, nothing is ever pending).
    """
    import functools
    import itertools
    import json
    import re
    from urllib.parse import parse_qs, unquote

    from moto.core.responses import ActionResult, EmptyResult
    from moto.core.utils import utcnow
    from moto.iot import responses as iot_responses
    from moto.iot.exceptions import (
        DeleteConflictException,
        InvalidRequestException,
        IoTClientError,
        ResourceAlreadyExistsException,
        ResourceNotFoundException,
    )

    max_versions = 5
    payload_version = "2020-04-01"
    name_pattern = re.compile(r"^[0-9A-Za-z_-]{1,36}$")
    lambda_arn = re.compile(
        r"^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]{1,64}(:[A-Za-z0-9$_-]{1,128})?$"
    )
    # The server answers requests on several threads; one lock serializes these calls.
    lock = threading.Lock()
    # Creation order across every backend, for ListProvisioningTemplates and its nextToken.
    sequence = itertools.count(1)

    class VersionsLimitExceeded(IoTClientError):
        def __init__(self, name):  # type: ignore[no-untyped-def]
            self.code = 409
            super().__init__(
                "VersionsLimitExceededException",
                f"The provisioning template {name} already has the maximum number of versions "
                f"({max_versions})",
            )

    def locked(handler):  # type: ignore[no-untyped-def]
        @functools.wraps(handler)
        def run(self):  # type: ignore[no-untyped-def]
            with lock:
                return handler(self)

        return run

    def templates(response):  # type: ignore[no-untyped-def]
        # On the backend object: moto's reset replaces every backend, and with it this.
        backend = response.iot_backend
        if not hasattr(backend, "provisioning_templates"):
            backend.provisioning_templates = {}
        return backend.provisioning_templates

    def body(response):  # type: ignore[no-untyped-def]
        if not response.body:
            return {}
        try:
            parsed = json.loads(response.body)
        except ValueError:
            raise InvalidRequestException("The request body is not valid JSON.")
        if not isinstance(parsed, dict):
            raise InvalidRequestException("The request body is not a JSON object.")
        return parsed

    def query(response, name):  # type: ignore[no-untyped-def]
        # The URL's own query string: moto's querystring falls back to the headers.
        values = parse_qs(response.parsed_url.query, keep_blank_values=True).get(name)
        return values[0] if values else None

    def check_name(name):  # type: ignore[no-untyped-def]
        if not isinstance(name, str) or not name_pattern.match(name):
            raise InvalidRequestException(
                f"templateName {name!r} must be 1-36 characters of [0-9A-Za-z_-]."
            )
        return name

    def path_name(response):  # type: ignore[no-untyped-def]
        return check_name(unquote(response.uri_match.get("templateName") or ""))

    def path_version(response):  # type: ignore[no-untyped-def]
        raw = unquote(str(response.uri_match.get("versionId") or ""))
        try:
            return int(raw)
        except ValueError:
            raise InvalidRequestException(f"versionId {raw!r} is not an integer.")

    def lookup(response, name):  # type: ignore[no-untyped-def]
        template = templates(response).get(name)
        if template is None:
            raise ResourceNotFoundException(f"The provisioning template {name} does not exist.")
        return template

    def check_body(template_body):  # type: ignore[no-untyped-def]
        if not isinstance(template_body, str):
            raise InvalidRequestException("templateBody is required.")
        if len(template_body) > 10240:
            raise InvalidRequestException("templateBody is longer than 10240 characters.")
        try:
            parsed = json.loads(template_body)
        except ValueError as error:
            raise InvalidRequestException(f"templateBody is not valid JSON: {error}")
        if not isinstance(parsed, dict):
            raise InvalidRequestException("templateBody must be a JSON object.")
        return template_body

    def check_description(description):  # type: ignore[no-untyped-def]
        if description is not None and (not isinstance(description, str) or len(description) > 500):
            raise InvalidRequestException("description must be a string of at most 500 characters.")
        return description

    def check_role(role_arn):  # type: ignore[no-untyped-def]
        if not isinstance(role_arn, str) or not 20 <= len(role_arn) <= 2048:
            raise InvalidRequestException("provisioningRoleArn must be 20-2048 characters.")
        return role_arn

    def check_hook(hook, template_type):  # type: ignore[no-untyped-def]
        if hook is None:
            return None
        if template_type != "FLEET_PROVISIONING":
            raise InvalidRequestException(
                "A pre-provisioning hook is only supported by templates of type FLEET_PROVISIONING."
            )
        if not isinstance(hook, dict) or not isinstance(hook.get("targetArn"), str):
            raise InvalidRequestException("preProvisioningHook.targetArn is required.")
        target = hook["targetArn"]
        if len(target) > 2048 or not lambda_arn.match(target):
            raise InvalidRequestException(
                f"preProvisioningHook.targetArn {target} is not a Lambda function ARN."
            )
        version = hook.get("payloadVersion") or payload_version
        if version != payload_version:
            raise InvalidRequestException(
                f"preProvisioningHook.payloadVersion {version} is not supported (only {payload_version})."
            )
        return {"payloadVersion": version, "targetArn": target}

    def summary(t):  # type: ignore[no-untyped-def]
        return {
            "templateArn": t["templateArn"],
            "templateName": t["templateName"],
            "description": t["description"],
            "creationDate": t["creationDate"],
            "lastModifiedDate": t["lastModifiedDate"],
            "enabled": t["enabled"],
            "type": t["type"],
        }

    def version_summary(t, v):  # type: ignore[no-untyped-def]
        return {
            "versionId": v["versionId"],
            "creationDate": v["creationDate"],
            "isDefaultVersion": v["versionId"] == t["defaultVersionId"],
        }

    def page(items, response):  # type: ignore[no-untyped-def]
        """Items (in order, each with a "seq") from nextToken on, maxResults of them."""
        raw_max = query(response, "maxResults")
        try:
            max_results = int(raw_max) if raw_max is not None else None
        except ValueError:
            raise InvalidRequestException(f"maxResults {raw_max!r} is not an integer.")
        if max_results is not None and not 1 <= max_results <= 250:
            raise InvalidRequestException("maxResults must be between 1 and 250.")
        token = query(response, "nextToken")
        if token:
            try:
                after = int(token)
            except ValueError:
                raise InvalidRequestException("The nextToken is not valid.")
            items = [i for i in items if i["seq"] > after]
        if max_results is None or len(items) <= max_results:
            return items, None
        return items[:max_results], str(items[max_results - 1]["seq"])

    def create_provisioning_template(self):  # type: ignore[no-untyped-def]
        params = body(self)
        name = check_name(params.get("templateName"))
        template_body = check_body(params.get("templateBody"))
        description = check_description(params.get("description"))
        role_arn = check_role(params.get("provisioningRoleArn"))
        template_type = params.get("type") or "FLEET_PROVISIONING"
        if template_type not in ("FLEET_PROVISIONING", "JITP"):
            raise InvalidRequestException(f"type {template_type} is not FLEET_PROVISIONING or JITP.")
        hook = check_hook(params.get("preProvisioningHook"), template_type)
        arn = f"arn:{self.partition}:iot:{self.region}:{self.current_account}:provisioningtemplate/{name}"
        store = templates(self)
        if name in store:
            raise ResourceAlreadyExistsException(
                f"The provisioning template {name} already exists.", name, arn
            )
        now = utcnow()
        store[name] = {
            "seq": next(sequence),
            "templateArn": arn,
            "templateName": name,
            "description": description,
            "creationDate": now,
            "lastModifiedDate": now,
            "defaultVersionId": 1,
            "enabled": bool(params.get("enabled", False)),
            "provisioningRoleArn": role_arn,
            "preProvisioningHook": hook,
            "type": template_type,
            "tags": list(params.get("tags") or []),
            "versions": {1: {"seq": 1, "versionId": 1, "creationDate": now, "templateBody": template_body}},
            "lastVersionId": 1,
        }
        return ActionResult({"templateArn": arn, "templateName": name, "defaultVersionId": 1})

    def describe_provisioning_template(self):  # type: ignore[no-untyped-def]
        t = lookup(self, path_name(self))
        result = dict(summary(t))
        result.update(
            {
                "defaultVersionId": t["defaultVersionId"],
                "templateBody": t["versions"][t["defaultVersionId"]]["templateBody"],
                "provisioningRoleArn": t["provisioningRoleArn"],
            }
        )
        if t["preProvisioningHook"] is not None:
            result["preProvisioningHook"] = dict(t["preProvisioningHook"])
        return ActionResult(result)

    def list_provisioning_templates(self):  # type: ignore[no-untyped-def]
        ordered = sorted(templates(self).values(), key=lambda t: t["seq"])
        items, token = page(ordered, self)
        result = {"templates": [summary(t) for t in items]}
        if token:
            result["nextToken"] = token
        return ActionResult(result)

    def update_provisioning_template(self):  # type: ignore[no-untyped-def]
        name = path_name(self)
        params = body(self)
        description = check_description(params.get("description"))
        remove_hook = params.get("removePreProvisioningHook") is True
        if remove_hook and params.get("preProvisioningHook") is not None:
            raise InvalidRequestException(
                "preProvisioningHook and removePreProvisioningHook cannot be given together."
            )
        t = lookup(self, name)
        hook = check_hook(params.get("preProvisioningHook"), t["type"])
        role_arn = params.get("provisioningRoleArn")
        if role_arn is not None:
            check_role(role_arn)
        default = params.get("defaultVersionId")
        if default is not None:
            if isinstance(default, bool) or not isinstance(default, int):
                raise InvalidRequestException("defaultVersionId must be an integer.")
            if default not in t["versions"]:
                raise ResourceNotFoundException(
                    f"Version {default} of the provisioning template {name} does not exist."
                )
        if description is not None:
            t["description"] = description
        if params.get("enabled") is not None:
            t["enabled"] = bool(params["enabled"])
        if default is not None:
            t["defaultVersionId"] = default
        if role_arn is not None:
            t["provisioningRoleArn"] = role_arn
        if hook is not None:
            t["preProvisioningHook"] = hook
        if remove_hook:
            t["preProvisioningHook"] = None
        t["lastModifiedDate"] = utcnow()
        return EmptyResult()

    def delete_provisioning_template(self):  # type: ignore[no-untyped-def]
        name = path_name(self)
        lookup(self, name)
        del templates(self)[name]
        return EmptyResult()

    def create_provisioning_template_version(self):  # type: ignore[no-untyped-def]
        name = path_name(self)
        template_body = check_body(body(self).get("templateBody"))
        set_as_default = str(query(self, "setAsDefault") or "false").lower() == "true"
        t = lookup(self, name)
        if len(t["versions"]) >= max_versions:
            raise VersionsLimitExceeded(name)
        version_id = t["lastVersionId"] + 1
        now = utcnow()
        t["lastVersionId"] = version_id
        t["versions"][version_id] = {
            "seq": version_id,
            "versionId": version_id,
            "creationDate": now,
            "templateBody": template_body,
        }
        if set_as_default:
            t["defaultVersionId"] = version_id
        t["lastModifiedDate"] = now
        return ActionResult(
            {
                "templateArn": t["templateArn"],
                "templateName": name,
                "versionId": version_id,
                "isDefaultVersion": set_as_default,
            }
        )

    def version_of(response):  # type: ignore[no-untyped-def]
        name = path_name(response)
        version_id = path_version(response)
        t = lookup(response, name)
        v = t["versions"].get(version_id)
        if v is None:
            raise ResourceNotFoundException(
                f"Version {version_id} of the provisioning template {name} does not exist."
            )
        return t, v

    def describe_provisioning_template_version(self):  # type: ignore[no-untyped-def]
        t, v = version_of(self)
        result = version_summary(t, v)
        result["templateBody"] = v["templateBody"]
        return ActionResult(result)

    def list_provisioning_template_versions(self):  # type: ignore[no-untyped-def]
        t = lookup(self, path_name(self))
        ordered = sorted(t["versions"].values(), key=lambda v: v["versionId"])
        items, token = page(ordered, self)
        result = {"versions": [version_summary(t, v) for v in items]}
        if token:
            result["nextToken"] = token
        return ActionResult(result)

    def delete_provisioning_template_version(self):  # type: ignore[no-untyped-def]
        t, v = version_of(self)
        if v["versionId"] == t["defaultVersionId"]:
            raise DeleteConflictException(
                f"Version {v['versionId']} is the default version of the provisioning template "
                f"{t['templateName']} and cannot be deleted."
            )
        del t["versions"][v["versionId"]]
        t["lastModifiedDate"] = utcnow()
        return EmptyResult()

    for handler in (
        create_provisioning_template,
        describe_provisioning_template,
        list_provisioning_templates,
        update_provisioning_template,
        delete_provisioning_template,
        create_provisioning_template_version,
        describe_provisioning_template_version,
        list_provisioning_template_versions,
        delete_provisioning_template_version,
    ):
        setattr(iot_responses.IoTResponse, handler.__name__, locked(handler))


def patch_rds_kms_key_arns() -> None:
    """Report an encrypted database's (and so its snapshots') KmsKeyId as the key's ARN.

    AWS accepts a key id, key ARN, alias name or alias ARN in CreateDBInstance and
    CreateDBCluster, and from then on reports the key's ARN. moto 5.2.5 keeps whatever was
    given (an alias, say), so a controller describing "the snapshot's key" asked KMS about an
    alias, which IAM authorizes differently from the key. We resolve it as moto already does
    for CopyDBSnapshot (`_validate_kms_key`), and mark a key reached through a reserved
    `alias/aws/...` name as AWS-managed, which it is in AWS (moto creates it as a customer's).
    """
    from moto.rds import models as rds_models

    def resolve(backend, kwargs):  # type: ignore[no-untyped-def]
        key = kwargs.get("kms_key_id")
        if not key or not kwargs.get("storage_encrypted", True):
            return
        kwargs["kms_key_id"] = backend._validate_kms_key(key)
        if key.startswith("alias/aws/"):
            backend.kms.describe_key(key).key_manager = "AWS"

    original_instance = rds_models.RDSBackend.create_db_instance
    original_cluster = rds_models.RDSBackend.create_db_cluster

    def create_db_instance(self, db_kwargs):  # type: ignore[no-untyped-def]
        resolve(self, db_kwargs)
        return original_instance(self, db_kwargs)

    def create_db_cluster(self, kwargs):  # type: ignore[no-untyped-def]
        resolve(self, kwargs)
        return original_cluster(self, kwargs)

    rds_models.RDSBackend.create_db_instance = create_db_instance
    rds_models.RDSBackend.create_db_cluster = create_db_cluster


def patch_rds_restore_false_settings() -> None:
    """Keep a restore's explicit `false` settings (PubliclyAccessible, DeletionProtection…).

    AWS applies every setting a RestoreDBInstanceFromDBSnapshot or
    RestoreDBClusterFromSnapshot call names; left out, PubliclyAccessible depends on the
    subnet group (a default VPC's makes it public), which is why our restores always say
    false. moto 5.2.5 copies the source database's settings and then applies only the
    truthy overrides (`if value:`), so an explicit false was lost and the restored database
    reported the source's value, or none. We apply the explicit false values afterwards.
    """
    from moto.rds import models as rds_models

    flags = ("publicly_accessible", "deletion_protection", "multi_az", "copy_tags_to_snapshot")

    def keep_false(restored, overrides):  # type: ignore[no-untyped-def]
        for flag in flags:
            if overrides.get(flag) is False and hasattr(restored, flag):
                try:
                    setattr(restored, flag, False)
                except AttributeError:  # a computed property (a cluster's multi_az)
                    pass
        return restored

    original_instance = rds_models.RDSBackend.restore_db_instance_from_db_snapshot
    original_cluster = rds_models.RDSBackend.restore_db_cluster_from_snapshot

    def restore_db_instance_from_db_snapshot(self, from_snapshot_id, overrides):  # type: ignore[no-untyped-def]
        return keep_false(original_instance(self, from_snapshot_id, overrides), overrides)

    def restore_db_cluster_from_snapshot(self, from_snapshot_id, overrides):  # type: ignore[no-untyped-def]
        return keep_false(original_cluster(self, from_snapshot_id, overrides), overrides)

    rds_models.RDSBackend.restore_db_instance_from_db_snapshot = restore_db_instance_from_db_snapshot
    rds_models.RDSBackend.restore_db_cluster_from_snapshot = restore_db_cluster_from_snapshot


# How long an RDS restore stays `creating` before it is `available`. AWS takes minutes to
# hours; the sandbox default keeps the test suite quick while still making every caller wait
# (and poll) as it must on AWS. The game day sets a longer one.
RESTORE_SECONDS_ENV = "DRCTL_SANDBOX_RESTORE_SECONDS"
DEFAULT_RESTORE_SECONDS = 2.0


def restore_seconds() -> float:
    value = os.environ.get(RESTORE_SECONDS_ENV, "")
    try:
        return max(0.0, float(value)) if value else DEFAULT_RESTORE_SECONDS
    except ValueError:
        print(f"{RESTORE_SECONDS_ENV}={value!r} is not a number of seconds", file=sys.stderr)
        raise


def patch_rds_slow_restores() -> None:
    """RDS restores stay `creating` for a while, and a cluster takes instances only once available.

    AWS restores asynchronously: RestoreDBInstanceFromDBSnapshot,
    RestoreDBInstanceToPointInTime, RestoreDBClusterFromSnapshot and
    RestoreDBClusterToPointInTime answer at once with a database in `creating`, which
    becomes `available` minutes (or hours) later. The RestoreDBClusterFromSnapshot API
    reference: "This operation only restores the DB cluster, not the DB instances for that
    DB cluster. [...] You can create DB instances only after the
    RestoreDBClusterFromSnapshot operation has completed and the DB cluster is available."
    moto 5.2.5 restores instantly (a cluster reports `creating` once, then `available`), so
    a caller that created a cluster's instances right after its restore, or trusted a
    restore to be usable at once, passed here and failed on AWS.

    Here a restored database reports `creating` for DRCTL_SANDBOX_RESTORE_SECONDS (computed
    from the time elapsed when described: no background thread), then `available`; a
    restored cluster lists no members until instances are created in it; CreateDBInstance
    into a cluster that is not `available` answers InvalidDBClusterStateFault.
    """
    import time
    import weakref

    from moto.rds import models as rds_models
    from moto.rds import responses as rds_responses
    from moto.rds.exceptions import RDSClientError

    seconds = restore_seconds()
    # database or cluster -> when it becomes available (time.monotonic())
    ready_at: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()

    def restoring(resource) -> bool:  # type: ignore[no-untyped-def]
        deadline = ready_at.get(resource)
        if deadline is None:
            return False
        if time.monotonic() < deadline:
            return True
        del ready_at[resource]
        return False

    # An instance's status is a plain attribute in moto: make it a property that answers
    # `creating` while its restore runs. The stored value lives in the instance's __dict__
    # under the same name, so moto's restores (which copy __dict__) still see it.
    def instance_status(self):  # type: ignore[no-untyped-def]
        if restoring(self):
            return "creating"
        return self.__dict__.get("status", "available")

    def set_instance_status(self, value):  # type: ignore[no-untyped-def]
        self.__dict__["status"] = value

    rds_models.DBInstance.status = property(instance_status, set_instance_status)

    cluster_status = rds_models.DBCluster.status

    def cluster_status_get(self):  # type: ignore[no-untyped-def]
        if restoring(self):
            return "creating"
        return cluster_status.fget(self)

    rds_models.DBCluster.status = property(cluster_status_get, cluster_status.fset)

    class InvalidDBClusterState(RDSClientError):
        def __init__(self, cluster, status):  # type: ignore[no-untyped-def]
            super().__init__(
                "InvalidDBClusterStateFault",
                f"DB cluster {cluster} is in {status} state; DB instances can be created only "
                "once it is available.",
            )

    def slow(method, param, kind):  # type: ignore[no-untyped-def]
        original = getattr(rds_responses.RDSResponse, method)

        def restore(self):  # type: ignore[no-untyped-def]
            result = original(self)
            identifier = self._get_param(param)
            found = (self.backend.clusters if kind == "cluster" else self.backend.databases).get(identifier)
            if found is not None:
                if kind == "cluster":
                    # moto's own one-time `creating` would otherwise follow ours.
                    found.status = "available"
                ready_at[found] = time.monotonic() + seconds
            return result

        setattr(rds_responses.RDSResponse, method, restore)

    slow("restore_db_instance_from_db_snapshot", "DBInstanceIdentifier", "instance")
    slow("restore_db_instance_to_point_in_time", "TargetDBInstanceIdentifier", "instance")
    slow("restore_db_cluster_from_snapshot", "DBClusterIdentifier", "cluster")
    slow("restore_db_cluster_to_point_in_time", "DBClusterIdentifier", "cluster")

    original_create = rds_models.RDSBackend.create_db_instance

    def create_db_instance(self, db_kwargs):  # type: ignore[no-untyped-def]
        cluster_id = db_kwargs.get("db_cluster_identifier")
        cluster = self.clusters.get(cluster_id) if cluster_id else None
        if cluster is not None and db_kwargs.get("db_instance_identifier") not in self.databases:
            status = cluster.status
            if status != "available":
                raise InvalidDBClusterState(cluster_id, status)
        return original_create(self, db_kwargs)

    rds_models.RDSBackend.create_db_instance = create_db_instance


# How long a detached global-database secondary stays `modifying` while Aurora promotes it.
PROMOTE_SECONDS_ENV = "DRCTL_SANDBOX_PROMOTE_SECONDS"
# The replication lag (ms) a global-database secondary reports; a `sandbox:replication-lag-ms`
# tag on the secondary cluster overrides it for that cluster.
GLOBAL_LAG_ENV = "DRCTL_SANDBOX_GLOBAL_LAG_MS"
DEFAULT_GLOBAL_LAG_MS = 800.0
GLOBAL_LAG_TAG = "sandbox:replication-lag-ms"


def seconds_from_env(name: str, default: float) -> float:
    value = os.environ.get(name, "")
    try:
        return max(0.0, float(value)) if value else default
    except ValueError:
        print(f"{name}={value!r} is not a number", file=sys.stderr)
        raise


def patch_rds_global_database() -> None:
    """An Aurora global database's secondary that lags, and a detach-and-promote that takes time.

    AWS (RemoveFromGlobalCluster API reference; Aurora user guide, "Recovering an Amazon
    Aurora global database from an unplanned outage"): in an outage of the primary Region,
    the secondary cluster is detached in its own Region with RemoveFromGlobalCluster
    (`DbClusterIdentifier` is the secondary's ARN); "the cluster becomes a standalone cluster
    with read-write capability". RDS publishes `AuroraGlobalDBReplicationLag` (ms) for the
    secondary in its Region, every minute, while it replicates.

    moto 5.2.5 keeps global clusters in us-east-1's backend and looks them up in the calling
    Region's, so a RemoveFromGlobalCluster called in the secondary's Region finds nothing and
    answers success having done nothing (the secondary stays a member, read-only); a detach
    that works leaves the cluster promoted at once; and no lag metric exists.

    Modelled: RemoveFromGlobalCluster finds the global cluster in any Region of the account
    (GlobalClusterNotFoundFault otherwise) and the cluster by ARN (DBClusterNotFoundFault),
    refuses a cluster that is not a member (InvalidDBClusterStateFault), detaches it (its
    GlobalClusterIdentifier cleared, a writer now), and the cluster reports `modifying` for
    DRCTL_SANDBOX_PROMOTE_SECONDS (default: the restore time). GetMetricData for AWS/RDS
    `AuroraGlobalDBReplicationLag` of a secondary answers one datapoint per minute (on the
    minute) of DRCTL_SANDBOX_GLOBAL_LAG_MS (default 800, or the cluster's
    `sandbox:replication-lag-ms` tag) while it is a member, none after it was detached.
    """
    import time
    import weakref
    from datetime import datetime, timezone

    from moto.cloudwatch import models as cw_models
    from moto.rds import models as rds_models
    from moto.rds import responses as rds_responses
    from moto.rds.exceptions import RDSClientError

    promote_seconds = seconds_from_env(PROMOTE_SECONDS_ENV, restore_seconds())
    default_lag_ms = seconds_from_env(GLOBAL_LAG_ENV, DEFAULT_GLOBAL_LAG_MS)
    promoting: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()  # cluster -> ready at
    detached_at: dict = {}  # cluster ARN -> wall-clock epoch seconds of its detach

    cluster_status = rds_models.DBCluster.status

    def status_get(self):  # type: ignore[no-untyped-def]
        deadline = promoting.get(self)
        if deadline is not None:
            if time.monotonic() < deadline:
                return "modifying"
            del promoting[self]
        return cluster_status.fget(self)

    rds_models.DBCluster.status = property(status_get, cluster_status.fset)

    def backends_of(account):  # type: ignore[no-untyped-def]
        regional = rds_models.rds_backends[account]
        return [regional[r] for r in list(regional.keys())]

    def global_of(account, identifier):  # type: ignore[no-untyped-def]
        for backend in backends_of(account):
            found = backend.global_clusters.get(identifier)
            if found is not None:
                return found
        return None

    def remove_from_global_cluster(self):  # type: ignore[no-untyped-def]
        global_id = self._get_param("GlobalClusterIdentifier")
        cluster_ref = self._get_param("DbClusterIdentifier")
        global_cluster = global_of(self.current_account, global_id)
        if global_cluster is None:
            raise RDSClientError("GlobalClusterNotFoundFault", f"Global cluster {global_id} not found.")
        member = next(
            (c for c in global_cluster.members if cluster_ref in (c.db_cluster_arn, c.db_cluster_identifier)),
            None,
        )
        if member is None:
            known = any(
                cluster_ref in (c.db_cluster_arn, c.db_cluster_identifier)
                for b in backends_of(self.current_account)
                for c in b.clusters.values()
            )
            if not known:
                raise RDSClientError("DBClusterNotFoundFault", f"DBCluster {cluster_ref} not found.")
            raise RDSClientError(
                "InvalidDBClusterStateFault",
                f"DB cluster {cluster_ref} is not a member of global cluster {global_id}.",
            )
        global_cluster.members.remove(member)
        member.global_cluster_identifier = None
        member.is_writer = True
        detached_at[member.db_cluster_arn] = time.time()
        promoting[member] = time.monotonic() + promote_seconds
        from moto.core.responses import ActionResult

        return ActionResult({"GlobalCluster": global_cluster})

    rds_responses.RDSResponse.remove_from_global_cluster = remove_from_global_cluster

    def secondary_lag(account, region, cluster_id):  # type: ignore[no-untyped-def]
        """(lag ms, until epoch seconds or None) of a secondary, or None."""
        backend = rds_models.rds_backends[account].get(region)
        cluster = backend.clusters.get(cluster_id) if backend else None
        if cluster is None:
            return None
        tags = {t["Key"]: t["Value"] for t in (cluster.tags or [])}
        lag = float(tags.get(GLOBAL_LAG_TAG, default_lag_ms))
        if cluster.db_cluster_arn in detached_at:
            return lag, detached_at[cluster.db_cluster_arn]
        for b in backends_of(account):
            for g in b.global_clusters.values():
                if any(m is cluster for m in g.members) and not cluster.is_writer:
                    return lag, None
        return None

    original_get_metric_data = cw_models.CloudWatchBackend.get_metric_data

    def get_metric_data(self, queries, start_time, end_time, scan_by="TimestampAscending"):  # type: ignore[no-untyped-def]
        results = original_get_metric_data(self, queries, start_time, end_time, scan_by)
        by_id = {r["id"]: r for r in results}
        for query in queries:
            stat = query.get("MetricStat")
            if not stat or query["Id"] not in by_id:
                continue
            metric = stat["Metric"]
            if metric.get("Namespace") != "AWS/RDS" or metric.get("MetricName") != "AuroraGlobalDBReplicationLag":
                continue
            dims = {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])}
            found = secondary_lag(self.account_id, self.region_name, dims.get("DBClusterIdentifier"))
            if found is None:
                continue
            lag, until = found
            now = time.time() if until is None else until
            start = max(start_time.timestamp(), now - 600)
            minute = int(now // 60) * 60
            stamps = []
            while minute >= start and minute < end_time.timestamp():
                stamps.append(datetime.fromtimestamp(minute, tz=timezone.utc))
                minute -= 60
            if scan_by != "TimestampDescending":
                stamps.reverse()
            by_id[query["Id"]]["timestamps"] = stamps
            by_id[query["Id"]]["values"] = [lag] * len(stamps)
        return results

    cw_models.CloudWatchBackend.get_metric_data = get_metric_data


def patch_rds_subnet_group_exists() -> None:
    """Refuse a second DB subnet group of a name in use, as AWS does.

    AWS (the CreateDBSubnetGroup API reference) answers DBSubnetGroupAlreadyExists when
    "DBSubnetGroupName is already used by an existing DB subnet group"; moto 5.2.5 silently
    replaces the group, so provisioning that runs twice reported "created" the second time
    and a caller could never learn the name was taken.
    """
    from moto.rds import models as rds_models
    from moto.rds.exceptions import RDSClientError

    class AlreadyExists(RDSClientError):
        def __init__(self, name):  # type: ignore[no-untyped-def]
            super().__init__(
                "DBSubnetGroupAlreadyExists",
                f"The DB subnet group '{name}' already exists.",
            )

    original = rds_models.RDSBackend.create_subnet_group

    def create_subnet_group(self, subnet_name, description, subnets, tags):  # type: ignore[no-untyped-def]
        if subnet_name in self.subnet_groups:
            raise AlreadyExists(subnet_name)
        return original(self, subnet_name, description, subnets, tags)

    rds_models.RDSBackend.create_subnet_group = create_subnet_group


def patch_iot_one_group_per_hierarchy() -> None:
    """Refuse a thing a second group of one hierarchy, or an eleventh group, as AWS does.

    AWS IoT (Static thing groups): "You can add a thing to a maximum of 10 groups. But you
    can't add a thing to more than one group in the same hierarchy." moto 5.2.5 checks
    neither, so a replicator that added a wearable to its new ward before removing it from
    its old one passed here and is refused by AWS (AddThingToThingGroup's documented error
    for a request it will not carry out is InvalidRequestException). One hierarchy is one
    root group and everything under it; adding a thing to a group it is already in stays a
    no-op. UpdateThingGroupsForThing is made to remove before it adds (AWS documents no order;
    the replicator never relies on one: it removes in one call, then adds).
    """
    from moto.iot import models as iot_models
    from moto.iot.exceptions import InvalidRequestException

    limit = 10
    original_add = iot_models.IoTBackend.add_thing_to_thing_group

    def root_of(group):  # type: ignore[no-untyped-def]
        ancestors = group.metadata.get("rootToParentThingGroups") or []
        return ancestors[0]["groupName"] if ancestors else group.thing_group_name

    def add_thing_to_thing_group(self, thing_group_name, thing_group_arn, thing_name, thing_arn):  # type: ignore[no-untyped-def]
        group = self._identify_thing_group(thing_group_name, thing_group_arn)
        thing = self._identify_thing(thing_name, thing_arn)
        if thing.arn not in group.things:
            memberships = [g for g in self.thing_groups.values() if thing.arn in g.things]
            root = root_of(group)
            for other in memberships:
                if root_of(other) == root:
                    raise InvalidRequestException(
                        f"Thing {thing.thing_name} cannot be added to {group.thing_group_name}:"
                        f" it is already in {other.thing_group_name}, in the same hierarchy"
                        f" (root {root})"
                    )
            if len(memberships) >= limit:
                raise InvalidRequestException(
                    f"Thing {thing.thing_name} is already in {limit} thing groups"
                )
        return original_add(self, thing_group_name, thing_group_arn, thing_name, thing_arn)

    def update_thing_groups_for_thing(self, thing_name, thing_groups_to_add, thing_groups_to_remove):  # type: ignore[no-untyped-def]
        thing = self.describe_thing(thing_name)
        for name in thing_groups_to_remove:
            group = self.describe_thing_group(name)
            self.remove_thing_from_thing_group(group.thing_group_name, None, thing.thing_name, None)
        for name in thing_groups_to_add:
            group = self.describe_thing_group(name)
            self.add_thing_to_thing_group(group.thing_group_name, None, thing.thing_name, None)

    iot_models.IoTBackend.add_thing_to_thing_group = add_thing_to_thing_group
    iot_models.IoTBackend.update_thing_groups_for_thing = update_thing_groups_for_thing


# How long a detached principal stays attached (AWS: "several seconds"; short here so the
# suite stays fast, long enough that a delete right after a detach meets it).
DETACH_PROPAGATION_SECONDS = 0.5


def patch_iot_detach_thing_principal_asynchronous() -> None:
    """DetachThingPrincipal takes effect a moment later, as on AWS.

    AWS (the DetachThingPrincipal API reference): "This call is asynchronous. It might take
    several seconds for the detachment to propagate." Meanwhile the principal is still listed
    (ListThingPrincipals, ListPrincipalThings), DeleteThing answers InvalidRequestException
    ("still attached to one or more principals") and DeleteCertificate
    DeleteConflictException. moto 5.2.5 detaches at once, so a delete right after a detach,
    or a read that trusts it, passed here and fails on AWS. An attach while a detachment is
    pending cancels it. Detaching again while pending answers as the first did.
    """
    from moto.iot import models as iot_models

    original_attach = iot_models.IoTBackend.attach_thing_principal
    original_detach = iot_models.IoTBackend.detach_thing_principal
    lock = threading.Lock()
    # (backend id, principal, thing) -> the token of the pending detachment
    pending: dict = {}

    def attach_thing_principal(self, thing_name, principal_arn):  # type: ignore[no-untyped-def]
        with lock:
            pending.pop((id(self), principal_arn, thing_name), None)
        return original_attach(self, thing_name, principal_arn)

    def detach_thing_principal(self, thing_name, principal_arn):  # type: ignore[no-untyped-def]
        self._get_principal(principal_arn)
        self.describe_thing(thing_name)
        key = (id(self), principal_arn, thing_name)
        if (principal_arn, thing_name) not in self.principal_things:
            return original_detach(self, thing_name, principal_arn)  # its ResourceNotFound
        token = object()
        with lock:
            if key in pending:
                return None
            pending[key] = token

        def propagate() -> None:
            with lock:
                if pending.get(key) is not token:
                    return  # attached again meanwhile
                del pending[key]
                self.principal_things.pop((principal_arn, thing_name), None)

        timer = threading.Timer(DETACH_PROPAGATION_SECONDS, propagate)
        timer.daemon = True
        timer.start()
        return None

    iot_models.IoTBackend.attach_thing_principal = attach_thing_principal
    iot_models.IoTBackend.detach_thing_principal = detach_thing_principal


# AWS documents no default page size for the registry's v2 listings (maxResults 1-250):
# small here, so a caller that ignores nextToken misses things in the sandbox too.
THING_PRINCIPAL_PAGE_SIZE = 25


def patch_iot_thing_principal_types() -> None:
    """A principal attached to a thing keeps how it was attached, as on AWS.

    AWS (AttachThingPrincipal): the `thingPrincipalType` query parameter is EXCLUSIVE_THING
    ("Attaches the specified principal to the specified thing, exclusively. The thing will
    be the only thing that's attached to the principal.") or NON_EXCLUSIVE_THING ("Multiple
    things can be attached to the principal"), the default. ListPrincipalThingsV2
    (`principalThingObjects`) and ListThingPrincipalsV2 (`thingPrincipalObjects`) report
    each link's `thingPrincipalType`, filter by it, and page with `maxResults` (1-250) and
    `nextToken`. moto 5.2.5 drops the parameter, and its v2 listings report no type and
    neither filter nor page, so a replicator that attached every certificate non-exclusively
    in DR passed here, and on AWS a device whose client id is not its thing name loses its
    thing (its policy variables and its groups' policies) after a failover.

    Inferred, not documented: an exclusive attach is refused (InvalidRequestException, the
    registry's answer to a request it will not carry out) while the principal has another
    thing, and any attach to another thing while a thing holds the principal exclusively;
    attaching a linked pair again sets its type. A detachment still propagating (the
    asynchronous-detach patch, which this one wraps) still counts as attached. Unknown
    principals and things answer ResourceNotFoundException.
    """
    from moto.core.responses import ActionResult, EmptyResult
    from moto.iot import models as iot_models
    from moto.iot import responses as iot_responses
    from moto.iot.exceptions import InvalidRequestException

    exclusive, non_exclusive = "EXCLUSIVE_THING", "NON_EXCLUSIVE_THING"
    original_attach = iot_models.IoTBackend.attach_thing_principal

    def types_of(backend):  # type: ignore[no-untyped-def]
        # (principal, thing) -> type; read only for pairs moto still links, so an entry a
        # detachment left behind is never seen, and an attach overwrites it.
        return backend.__dict__.setdefault("thing_principal_types", {})

    def type_of(backend, principal_arn, thing_name):  # type: ignore[no-untyped-def]
        return types_of(backend).get((principal_arn, thing_name), non_exclusive)

    def checked_type(value):  # type: ignore[no-untyped-def]
        if value not in (None, exclusive, non_exclusive):
            raise InvalidRequestException(
                f"thingPrincipalType must be {exclusive} or {non_exclusive}, not {value}"
            )
        return value

    def attach_thing_principal(self, thing_name, principal_arn, thing_principal_type=None):  # type: ignore[no-untyped-def]
        wanted = checked_type(thing_principal_type) or non_exclusive
        self._get_principal(principal_arn)
        self.describe_thing(thing_name)
        others = [t for (p, t) in self.principal_things if p == principal_arn and t != thing_name]
        if wanted == exclusive and others:
            raise InvalidRequestException(
                f"Principal {principal_arn} cannot be attached to {thing_name} as"
                f" {exclusive}: it is attached to {others[0]}"
            )
        held = [t for t in others if type_of(self, principal_arn, t) == exclusive]
        if held:
            raise InvalidRequestException(
                f"Principal {principal_arn} cannot be attached to {thing_name}: it is"
                f" attached to {held[0]} as {exclusive}"
            )
        original_attach(self, thing_name, principal_arn)
        types_of(self)[(principal_arn, thing_name)] = wanted

    def attach_thing_principal_response(self):  # type: ignore[no-untyped-def]
        self.iot_backend.attach_thing_principal(
            thing_name=self._get_param("thingName"),
            principal_arn=self.headers.get("x-amzn-principal"),
            thing_principal_type=self._get_param("thingPrincipalType"),
        )
        return EmptyResult()

    def page(self, objects, key, result_key):  # type: ignore[no-untyped-def]
        """Filter by `thingPrincipalType`, order by `key`, one page after `nextToken`."""
        wanted = checked_type(self._get_param("thingPrincipalType"))
        size = self._get_int_param("maxResults") or THING_PRINCIPAL_PAGE_SIZE
        if not 1 <= size <= 250:
            raise InvalidRequestException("maxResults must be between 1 and 250")
        ordered = sorted(
            (o for o in objects if wanted is None or o["thingPrincipalType"] == wanted),
            key=lambda o: o[key],
        )
        # The token names the last object of the previous page, so a link removed
        # mid-listing skips nothing.
        token = self._get_param("nextToken")
        if token:
            ordered = [o for o in ordered if o[key] > token]
        result = {result_key: ordered[:size]}
        if len(ordered) > size:
            result["nextToken"] = ordered[size - 1][key]
        return ActionResult(result)

    def list_principal_things_v2(self):  # type: ignore[no-untyped-def]
        principal = self.headers.get("x-amzn-principal")
        backend = self.iot_backend
        backend._get_principal(principal)  # ResourceNotFoundException when unknown
        objects = [
            {"thingName": t, "thingPrincipalType": type_of(backend, p, t)}
            for (p, t) in list(backend.principal_things)
            if p == principal
        ]
        return page(self, objects, "thingName", "principalThingObjects")

    def list_thing_principals_v2(self):  # type: ignore[no-untyped-def]
        thing_name = self._get_param("thingName")
        backend = self.iot_backend
        backend.describe_thing(thing_name)  # ResourceNotFoundException when unknown
        objects = [
            {"principal": p, "thingPrincipalType": type_of(backend, p, t)}
            for (p, t) in list(backend.principal_things)
            if t == thing_name
        ]
        return page(self, objects, "principal", "thingPrincipalObjects")

    iot_models.IoTBackend.attach_thing_principal = attach_thing_principal
    iot_responses.IoTResponse.attach_thing_principal = attach_thing_principal_response
    iot_responses.IoTResponse.list_principal_things_v2 = list_principal_things_v2
    iot_responses.IoTResponse.list_thing_principals_v2 = list_thing_principals_v2


def patch_iot_shadow_timestamps() -> None:
    """A shadow GET answers with its response time, and an update stamps only its own leaves.

    AWS's shadow model (GetShadowResponse): `timestamp` is "the time the response was
    generated by AWS IoT", and `metadata` "contains the last-updated timestamps for each
    attribute" -- an update stamps the leaves it sets, the others keep theirs. moto 5.2.5
    answers a GET with the last write time and restamps every leaf on each update, so a rule
    that read either as "when was this written" passed
    here and fails on AWS.
    """
    import time as time_module

    from moto.iotdata import models as iotdata_models

    shadow_class = iotdata_models.FakeShadow
    original_from_previous = shadow_class.create_from_previous_version.__func__
    original_to_dict = shadow_class.to_dict

    def stamp(value, ts):  # type: ignore[no-untyped-def]
        if isinstance(value, dict):
            return {key: stamp(item, ts) for key, item in value.items()}
        if isinstance(value, list):
            return [stamp(item, ts) for item in value]
        return {"timestamp": ts}

    def restamp(state, previous, written, ts):  # type: ignore[no-untyped-def]
        """The metadata of `state`: leaves `written` by this update at `ts`, others as before."""
        if not isinstance(state, dict):
            return stamp(state, ts) if written is not None else (previous or stamp(state, ts))
        out = {}
        for key, value in state.items():
            before = previous.get(key) if isinstance(previous, dict) else None
            patch = written.get(key) if isinstance(written, dict) else None
            if isinstance(written, dict) and key in written:
                out[key] = restamp(value, before, patch, ts) if isinstance(patch, dict) else stamp(value, ts)
            else:
                out[key] = before if before is not None else stamp(value, ts)
        return out

    def create_from_previous_version(cls, previous_shadow, payload):  # type: ignore[no-untyped-def]
        shadow = original_from_previous(cls, previous_shadow, payload)
        if previous_shadow is None or previous_shadow.deleted or shadow.deleted:
            return shadow
        if payload is None or payload.get("state") is None:
            return shadow
        sections = payload["state"]
        for section in ("desired", "reported"):
            state = getattr(shadow, section)
            if state is None:
                setattr(shadow, f"metadata_{section}", None)
                continue
            setattr(
                shadow,
                f"metadata_{section}",
                restamp(
                    state,
                    getattr(previous_shadow, f"metadata_{section}"),
                    sections.get(section),
                    shadow.timestamp,
                ),
            )
        return shadow

    def to_dict(self, include_delta=True):  # type: ignore[no-untyped-def]
        answer = original_to_dict(self, include_delta)
        answer["timestamp"] = int(time_module.time())
        return answer

    shadow_class.create_from_previous_version = classmethod(create_from_previous_version)
    shadow_class.to_dict = to_dict


def patch_iot_delete_certificate_beside_group_policies() -> None:
    """DeleteCertificate checks the certificate's own links only, as AWS does.

    moto 5.2.5's check walks every policy target and asks each for a certificate id; a
    policy attached to a thing group (AttachPolicy with a group target, which AWS allows and
    the fleet uses for wards) makes every later DeleteCertificate in that account answer 500.
    AWS refuses a delete only for the certificate's own things or policies
    (DeleteConflictException) or an ACTIVE status (CertificateStateException).
    """
    from moto.iot import models as iot_models
    from moto.iot.exceptions import CertificateStateException, DeleteConflictException

    def _validation_delete(self, cert, force_delete=False):  # type: ignore[no-untyped-def]
        if cert.status == "ACTIVE":
            raise CertificateStateException(
                "Certificate must be deactivated (not ACTIVE) before deletion.",
                cert.certificate_id,
            )
        things = [p for (p, _) in self.principal_things if p == cert.arn]
        if things:
            raise DeleteConflictException(f"Things must be detached before deletion (arn: {things[0]})")
        policies = [p for (p, _) in self.principal_policies if p == cert.arn]
        if policies and not force_delete:
            raise DeleteConflictException(
                f"Certificate policies must be detached before deletion (arn: {policies[0]})"
            )

    iot_models.IoTBackend._validation_delete = _validation_delete


def patch_rds_automated_backup_replication() -> None:
    """Cross-Region automated backup replication, which moto 5.2.5 does not have.

    AWS (RDS user guide, "Replicating automated backups to another AWS Region", and the
    StartDBInstanceAutomatedBackupsReplication, DescribeDBInstanceAutomatedBackups and
    RestoreDBInstanceToPointInTime references): replication is started in the destination
    Region for a source instance of the same account (its ARN names the source Region); RDS
    copies the instance's snapshots and transaction logs there, encrypted with a key of the
    destination Region (required for an encrypted source). DescribeDBInstanceAutomatedBackups
    in the destination Region reports them (`Region` is the source's, `Status` is
    `replicating`, `RestoreWindow` the restorable span), and RestoreDBInstanceToPointInTime
    with `SourceDBInstanceAutomatedBackupsArn` restores them there, source Region or not.

    Modelled: the latest restorable time trails the present by REPLICATION_LAG_SECONDS
    (transaction logs are shipped every five minutes, then copied), never before the start;
    a restore takes the source instance's settings as they were when replication began
    (moto keeps no history) and the call's, an explicit false included; the subnet group,
    parameter and option groups must exist in the destination. Not modelled: replication
    stalling while the source's Region is down (outages live in the sandbox's proxy, which
    moto does not see), so the RPO measured during an outage is the lag, not lag + outage.
    """
    import copy
    import datetime

    from moto.core.responses import ActionResult
    from moto.core.utils import utcnow
    from moto.rds import models as rds_models
    from moto.rds import responses as rds_responses
    from moto.rds.exceptions import (
        DBInstanceAlreadyExists,
        DBInstanceNotFoundError,
        InvalidParameterCombination,
        InvalidParameterValue,
        RDSClientError,
    )

    lag = datetime.timedelta(seconds=REPLICATION_LAG_SECONDS)
    # (account, destination region) -> {arn: replication}
    replications: dict = {}

    class NotFound(RDSClientError):
        def __init__(self, arn):  # type: ignore[no-untyped-def]
            super().__init__("DBInstanceAutomatedBackupNotFound", f"Automated backup {arn} not found.")

    def record(r):  # type: ignore[no-untyped-def]
        now = utcnow()
        latest = max(r["started"], now - lag)
        return {
            "DBInstanceArn": r["source_arn"],
            "DbiResourceId": r["source"].dbi_resource_id,
            "Region": r["source_region"],
            "DBInstanceIdentifier": r["source"].db_instance_identifier,
            "RestoreWindow": {"EarliestTime": r["started"], "LatestTime": latest},
            "AllocatedStorage": r["source"].allocated_storage,
            "Status": "replicating",
            "Port": r["source"].port,
            "Engine": r["source"].engine,
            "EngineVersion": r["source"].engine_version,
            "Encrypted": bool(r["kms_key_id"]),
            "KmsKeyId": r["kms_key_id"],
            "BackupRetentionPeriod": r["retention"],
            "DBInstanceAutomatedBackupsArn": r["arn"],
            "InstanceCreateTime": r["started"],
        }

    def start_db_instance_automated_backups_replication(self):  # type: ignore[no-untyped-def]
        source_arn = self._get_param("SourceDBInstanceArn") or ""
        parts = source_arn.split(":")
        if len(parts) != 7 or parts[5] != "db":
            raise InvalidParameterValue(f"{source_arn} is not a DB instance ARN")
        region, account, identifier = parts[3], parts[4], parts[6]
        if account != self.current_account:
            raise InvalidParameterValue("backups are replicated within the source's own account")
        if region == self.region:
            raise InvalidParameterCombination("the destination must be another Region than the source")
        source = rds_models.rds_backends[account][region].databases.get(identifier)
        if source is None:
            raise DBInstanceNotFoundError(identifier)
        if not source.backup_retention_period:
            raise InvalidParameterCombination(
                "automated backups must be on (BackupRetentionPeriod > 0) to replicate them"
            )
        kms = self._get_param("KmsKeyId")
        if source.storage_encrypted and not kms:
            raise InvalidParameterCombination("an encrypted source needs KmsKeyId, a key of the destination Region")
        kms_arn = self.backend._validate_kms_key(kms) if kms else None
        mine = replications.setdefault((self.current_account, self.region), {})
        if any(r["source_arn"] == source_arn for r in mine.values()):
            raise InvalidParameterCombination(f"{source_arn} is already replicated to {self.region}")
        arn = f"arn:aws:rds:{self.region}:{account}:auto-backup:ab-{identifier}-{len(mine) + 1}"
        mine[arn] = {
            "arn": arn,
            "source": source,
            "source_props": copy.copy(source.__dict__),
            "source_arn": source_arn,
            "source_region": region,
            "kms_key_id": kms_arn,
            "retention": int(self._get_param("BackupRetentionPeriod") or 7),
            "started": utcnow(),
        }
        return ActionResult({"DBInstanceAutomatedBackup": record(mine[arn])})

    def describe_db_instance_automated_backups(self):  # type: ignore[no-untyped-def]
        local = self.backend.describe_db_instance_automated_backups(**self.params)
        wanted_arn = self._get_param("DBInstanceAutomatedBackupsArn")
        wanted_id = self._get_param("DBInstanceIdentifier")
        mine = replications.get((self.current_account, self.region), {})
        replicated = [
            record(r)
            for r in mine.values()
            if (not wanted_arn or r["arn"] == wanted_arn)
            and (not wanted_id or r["source"].db_instance_identifier == wanted_id)
        ]
        if wanted_arn and not replicated:
            raise NotFound(wanted_arn)
        if wanted_arn:
            local = []
        return ActionResult({"DBInstanceAutomatedBackups": list(local) + replicated})

    original_pitr = rds_responses.RDSResponse.restore_db_instance_to_point_in_time

    def restore_db_instance_to_point_in_time(self):  # type: ignore[no-untyped-def]
        arn = self._get_param("SourceDBInstanceAutomatedBackupsArn")
        if not arn:
            return original_pitr(self)
        r = replications.get((self.current_account, self.region), {}).get(arn)
        if r is None:
            raise NotFound(arn)
        if self._get_param("RestoreTime") is not None and self._get_param("UseLatestRestorableTime"):
            raise InvalidParameterCombination("RestoreTime and UseLatestRestorableTime exclude each other")
        target = self._get_param("TargetDBInstanceIdentifier")
        if target in self.backend.databases:
            raise DBInstanceAlreadyExists()
        props = {}
        for key, value in r["source_props"].items():
            key = key[1:] if key.startswith("_") else key
            if key in (
                "backend", "db_subnet_group", "db_subnet_group_name", "max_allocated_storage",
                "vpc_security_group_ids", "db_parameter_group_name", "availability_zone",
                "region", "account_id", "arn", "tags", "publicly_accessible",
            ):
                continue
            props[key] = copy.deepcopy(value)
        if not r["source"].option_group_supplied:
            props.pop("option_group_name", None)
        skip = {
            "source_db_instance_automated_backups_arn", "use_latest_restorable_time",
            "restore_time", "target_db_instance_identifier", "source_db_instance_identifier",
            "source_dbi_resource_id",
        }
        for key, value in self.params.items():
            if key not in skip and value is not None:
                props[key] = value
        props["db_instance_identifier"] = target
        props["kms_key_id"] = r["kms_key_id"]
        props["storage_encrypted"] = bool(r["kms_key_id"])
        props.setdefault("publicly_accessible", False)
        return ActionResult({"DBInstance": self.backend.create_db_instance(props)})

    rds_responses.RDSResponse.start_db_instance_automated_backups_replication = (
        start_db_instance_automated_backups_replication
    )
    rds_responses.RDSResponse.describe_db_instance_automated_backups = describe_db_instance_automated_backups
    rds_responses.RDSResponse.restore_db_instance_to_point_in_time = restore_db_instance_to_point_in_time


def use_real_certificate_ids() -> None:
    """Make moto derive IoT certificate ids as AWS does: SHA-256 of the certificate's DER.

    moto's default hashes the PEM text instead, so the id DR computes from the PEM would not
    match the id primary reported, and our PEM/id integrity check would reject every message.
    """
    from moto.core.config import default_user_config

    default_user_config.setdefault("iot", {})["use_valid_cert"] = True


# Applied Service Quotas values, per account: JSON {"<account>": {"<service>/<code>": value}}.
SERVICE_QUOTAS_ENV = "DRCTL_SANDBOX_SERVICE_QUOTAS"

# The AWS IoT Core quotas the fleet's RTO rests on (service code `iotcore`), at the lowest
# values AWS has documented for them: what the sandbox answers when no value is applied.
IOTCORE_DEFAULT_QUOTAS = {
    "L-AEA1E176": ("Connect requests per second per account", 500.0),
    "L-589D5E1D": ("Subscriptions per second per account", 500.0),
    "L-75CAB723": ("Maximum concurrent client connections per account", 500000.0),
    "L-8C0011A3": ("RegisterCertificate API TPS", 10.0),
}


def patch_servicequotas_iotcore() -> None:
    """Answer GetServiceQuota and GetAWSDefaultServiceQuota for IoT Core's quotas, as AWS does.

    moto 5.2.5 knows only `vpc` (NoSuchResourceException for every other service) and has no
    GetAWSDefaultServiceQuota at all, so readiness could not read DR's connect rate or
    connection quota. AWS (GetServiceQuota API reference): the applied value where the
    account has one, NoSuchResourceException where only the default exists, which
    GetAWSDefaultServiceQuota answers.

    Modelled: defaults for the `iotcore` codes in IOTCORE_DEFAULT_QUOTAS; applied values per
    account from DRCTL_SANDBOX_SERVICE_QUOTAS (a test's "this account has raised, or been
    given less of, this quota"). Other services keep moto's behaviour.
    """
    import json

    from moto.servicequotas import responses as sq_responses
    from moto.servicequotas.exceptions import NoSuchResource

    raw = os.environ.get(SERVICE_QUOTAS_ENV, "")
    applied = json.loads(raw) if raw else {}
    original_get = sq_responses.ServiceQuotasResponse.get_service_quota

    def quota(self, service_code, quota_code, value):  # type: ignore[no-untyped-def]
        name = IOTCORE_DEFAULT_QUOTAS[quota_code][0]
        return {
            "ServiceCode": service_code,
            "ServiceName": "AWS IoT Core",
            "QuotaArn": f"arn:aws:servicequotas:{self.region}:{self.current_account}:{service_code}/{quota_code}",
            "QuotaCode": quota_code,
            "QuotaName": name,
            "Value": value,
            "Unit": "None",
            "Adjustable": True,
            "GlobalQuota": False,
        }

    def codes(self):  # type: ignore[no-untyped-def]
        params = json.loads(self.body)
        return str(params.get("ServiceCode")), str(params.get("QuotaCode"))

    def get_service_quota(self):  # type: ignore[no-untyped-def]
        service_code, quota_code = codes(self)
        if service_code != "iotcore":
            return original_get(self)
        value = applied.get(self.current_account, {}).get(f"{service_code}/{quota_code}")
        if quota_code not in IOTCORE_DEFAULT_QUOTAS or value is None:
            raise NoSuchResource()
        return json.dumps({"Quota": quota(self, service_code, quota_code, float(value))})

    def get_aws_default_service_quota(self):  # type: ignore[no-untyped-def]
        service_code, quota_code = codes(self)
        if service_code != "iotcore" or quota_code not in IOTCORE_DEFAULT_QUOTAS:
            raise NoSuchResource()
        default = IOTCORE_DEFAULT_QUOTAS[quota_code][1]
        return json.dumps({"Quota": quota(self, service_code, quota_code, default)})

    sq_responses.ServiceQuotasResponse.get_service_quota = get_service_quota
    sq_responses.ServiceQuotasResponse.get_aws_default_service_quota = get_aws_default_service_quota


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument(
        "--exit-with-parent",
        action="store_true",
        help="exit when stdin reaches end-of-file (the parent process is gone)",
    )
    args = parser.parse_args()

    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"refusing to bind {args.host}: the sandbox listens on loopback only", file=sys.stderr)
        return 2

    # One log line per request drowns the tracebacks we keep the log for.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    patch_rds_cross_account_snapshot_lookup()
    patch_rds_kms_key_arns()
    patch_rds_restore_false_settings()
    patch_rds_automated_backup_replication()
    patch_rds_subnet_group_exists()
    # After the backups' patch: it wraps that RestoreDBInstanceToPointInTime.
    patch_rds_slow_restores()
    # After the slow restores: it wraps that cluster status.
    patch_rds_global_database()
    use_real_certificate_ids()
    patch_iot_describe_certificate_ca_id()
    patch_iot_list_certificates_pagination()
    patch_route53_cloudwatch_health_checks()
    patch_route53_alarm_health_check_status()
    patch_iot_list_ca_certificates()
    patch_servicequotas_iotcore()
    patch_iot_ca_auto_registration()
    # After ListCACertificates' own patch: it pages that listing.
    patch_iot_list_pagination()
    patch_iot_domain_configuration_tls_config()
    patch_iot_thing_types()
    patch_iot_provisioning_templates()
    patch_iot_one_group_per_hierarchy()
    patch_iot_detach_thing_principal_asynchronous()
    # After the asynchronous detach: it wraps that attach, and a detachment still
    # propagating holds a principal as AWS's does.
    patch_iot_thing_principal_types()
    patch_iot_shadow_timestamps()
    patch_iot_delete_certificate_beside_group_policies()

    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address=args.host, port=args.port, verbose=False)
    server.start()
    host, port = server.get_host_and_port()

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    if args.exit_with_parent:

        def watch_stdin() -> None:
            # read() returns b"" only at end-of-file: the parent closed the pipe or died.
            while sys.stdin.buffer.read(4096):
                pass
            stop.set()

        threading.Thread(target=watch_stdin, daemon=True).start()

    print(f"READY {host} {port}", flush=True)
    while not stop.wait(0.5):
        pass
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
