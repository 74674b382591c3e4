//! The two-account session layer.
//!
//! Every call the control plane makes goes to one *side* (primary or DR) and is signed with
//! credentials of the role configured for that side, obtained by STS AssumeRole from the
//! ambient (base) credentials. The `AssumeRoleProvider` caches and refreshes the assumed
//! credentials, so one [`AwsSession`] is built at cold start and shared by every handler.
//!
//! Sandbox and cloud share this code. With a `[sandbox]` section the base credentials are
//! throwaway static keys (so the default chain never looks for instance metadata, which
//! would send traffic off loopback) and every client is pointed at the sandbox endpoint.

use aws_config::identity::IdentityCache;
use aws_config::sts::AssumeRoleProvider;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use aws_types::region::Region as SdkRegion;
use dr_core::{CallTimeouts, Region, Side, Topology};

/// SDK configuration for both sides of the topology.
#[derive(Debug, Clone)]
pub struct AwsSession {
    primary: SdkConfig,
    dr: SdkConfig,
    /// Primary's role, assumed through STS in the DR region: what primary's account does
    /// in the DR region (regional snapshot copies, replicated backups) must not need STS
    /// in primary's region, which may be the one that failed.
    primary_in_dr: SdkConfig,
    dr_region: Region,
    timeouts: CallTimeouts,
    /// The ambient credentials the roles are assumed with: who is acting.
    base: SdkConfig,
}

impl AwsSession {
    /// Build the session for `topology`. `caller` names this program in the assumed-role
    /// session name (`<caller>-primary`, `<caller>-dr`), so CloudTrail shows who acted.
    ///
    /// No network call happens here: roles are assumed on first use and refreshed before
    /// they expire.
    ///
    /// Every call is bounded by `caller`'s timeouts ([`Topology::timeouts_of`]): connect,
    /// each attempt (also the socket read timeout) and the whole operation with its
    /// retries, so a region that accepts connections and never answers costs seconds.
    pub async fn connect(topology: &Topology, caller: &str) -> Self {
        let timeouts = topology.timeouts_of(caller);
        let base = base_config(topology, &timeouts).await;
        let primary = assumed_config(
            &base,
            topology,
            Side::Primary,
            &topology.primary.region,
            caller,
            &timeouts,
        )
        .await;
        let dr = assumed_config(
            &base,
            topology,
            Side::Dr,
            &topology.dr.region,
            caller,
            &timeouts,
        )
        .await;
        let primary_in_dr = assumed_config(
            &base,
            topology,
            Side::Primary,
            &topology.dr.region,
            caller,
            &timeouts,
        )
        .await;
        Self {
            primary,
            dr,
            primary_in_dr,
            dr_region: topology.dr.region.clone(),
            timeouts,
            base,
        }
    }

    /// Who is acting, as STS knows them: the ARN of the ambient credentials (an operator's
    /// SSO session, a pipeline's role) that assume the sides' roles, read with
    /// GetCallerIdentity in the DR region. What an audit record names: `$USER` is whatever
    /// the shell says, this is what AWS authenticated.
    pub async fn caller_arn(&self) -> Result<String, dr_core::port::PortError> {
        let identity = client!(aws_sdk_sts, &self.base)
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| crate::error::port_error("GetCallerIdentity", e))?;
        identity.arn().map(str::to_owned).ok_or_else(|| {
            dr_core::port::PortError::permanent("GetCallerIdentity", "no ARN in the answer")
        })
    }

    /// The bounds every call of this session has.
    pub fn timeouts(&self) -> &CallTimeouts {
        &self.timeouts
    }

    /// The SDK configuration of one side, in that side's region.
    pub fn config(&self, side: Side) -> &SdkConfig {
        match side {
            Side::Primary => &self.primary,
            Side::Dr => &self.dr,
        }
    }

    /// The SDK configuration of one side's account in another region (e.g. primary's
    /// account in the DR region, where snapshot copies and replicated backups live). In
    /// the DR region its role is assumed through STS there, never through primary's.
    pub fn config_in(&self, side: Side, region: &Region) -> SdkConfig {
        let config = match side {
            Side::Primary if *region == self.dr_region => &self.primary_in_dr,
            _ => self.config(side),
        };
        config
            .to_builder()
            .region(SdkRegion::new(region.as_str().to_owned()))
            .build()
    }

    /// An STS client of one side.
    pub fn sts(&self, side: Side) -> aws_sdk_sts::Client {
        client!(aws_sdk_sts, self.config(side))
    }

    /// An SSM client of one side (the failover's database parameters).
    pub fn ssm(&self, side: Side) -> aws_sdk_ssm::Client {
        client!(aws_sdk_ssm, self.config(side))
    }

    /// A Secrets Manager client of one side (readiness: the databases' credentials).
    pub fn secrets_manager(&self, side: Side) -> aws_sdk_secretsmanager::Client {
        client!(aws_sdk_secretsmanager, self.config(side))
    }

    /// A Service Quotas client of one side (readiness: the IoT quotas the fleet's RTO rests on).
    pub fn service_quotas(&self, side: Side) -> aws_sdk_servicequotas::Client {
        client!(aws_sdk_servicequotas, self.config(side))
    }

    /// An IoT client of one side.
    pub fn iot(&self, side: Side) -> aws_sdk_iot::Client {
        client!(aws_sdk_iot, self.config(side))
    }

    /// An IoT data-plane client (device shadows) of one side.
    pub fn iot_data(&self, side: Side) -> aws_sdk_iotdataplane::Client {
        client!(aws_sdk_iotdataplane, self.config(side))
    }

    /// An IAM client of one side.
    pub fn iam(&self, side: Side) -> aws_sdk_iam::Client {
        client!(aws_sdk_iam, self.config(side))
    }

    /// A DynamoDB client of one side.
    pub fn dynamodb(&self, side: Side) -> aws_sdk_dynamodb::Client {
        client!(aws_sdk_dynamodb, self.config(side))
    }

    /// An SQS client of one side.
    pub fn sqs(&self, side: Side) -> aws_sdk_sqs::Client {
        client!(aws_sdk_sqs, self.config(side))
    }

    /// An SNS client of one side.
    pub fn sns(&self, side: Side) -> aws_sdk_sns::Client {
        client!(aws_sdk_sns, self.config(side))
    }

    /// A CloudWatch client of one side.
    pub fn cloudwatch(&self, side: Side) -> aws_sdk_cloudwatch::Client {
        client!(aws_sdk_cloudwatch, self.config(side))
    }

    /// A CloudWatch client of one side's account in `region`.
    pub fn cloudwatch_in(&self, side: Side, region: &Region) -> aws_sdk_cloudwatch::Client {
        client!(aws_sdk_cloudwatch, &self.config_in(side, region))
    }

    /// Route 53 (a global service) as `side`'s account; the hosted zone lives in DR's.
    pub fn route53(&self, side: Side) -> aws_sdk_route53::Client {
        client!(aws_sdk_route53, self.config(side))
    }

    /// A KMS client of one side's account in `region`.
    pub fn kms_in(&self, side: Side, region: &Region) -> aws_sdk_kms::Client {
        client!(aws_sdk_kms, &self.config_in(side, region))
    }

    /// A KMS client of one side.
    pub fn kms(&self, side: Side) -> aws_sdk_kms::Client {
        client!(aws_sdk_kms, self.config(side))
    }

    /// An RDS client of one side's account in `region`.
    pub fn rds_in(&self, side: Side, region: &Region) -> aws_sdk_rds::Client {
        client!(aws_sdk_rds, &self.config_in(side, region))
    }
}

/// A service client on `config` (an `&SdkConfig`) in the session's retry partition, also
/// retrying the throttling errors the SDK does not recognise
/// ([`crate::throttling::ThrottlingTheSdkMisses`]).
macro_rules! client {
    ($sdk:ident, $config:expr) => {
        $sdk::Client::from_conf(
            $sdk::config::Builder::from($config)
                .retry_partition($crate::session::retry_partition())
                .retry_classifier($crate::throttling::ThrottlingTheSdkMisses)
                .build(),
        )
    };
}
pub(crate) use client;

/// The retry partition of every client: the SDK's retry quota turned off. That quota
/// (500 tokens; each retry forgets 5 to 14 for good, a first-try success gives one back)
/// is a circuit breaker against retry storms; under a sustained quota of AWS's own (the
/// benchmark's 10 registrations/s) it drained within seconds, after which throttling errors
/// came back on the first attempt and messages went to the DLQ. Our retries are bounded
/// instead by attempts and backoff per call and by the functions' concurrency.
pub fn retry_partition() -> aws_smithy_runtime::client::retries::RetryPartition {
    aws_smithy_runtime::client::retries::RetryPartition::custom("dr-control-plane")
        .token_bucket(aws_smithy_runtime::client::retries::TokenBucket::unlimited())
        .build()
}

/// Every client's retries: standard mode, ten attempts, exponential backoff with jitter up
/// to 20 s. Throttling therefore slows a caller down instead of failing it, and some twenty
/// seconds on average of throttling, 5xx or an unreachable endpoint are ridden out before
/// an error reaches the caller (jittered: the nine waits can sum to under ten seconds).
/// Then SQS redelivers the message; only a permanent failure, repeated on every receive,
/// ends in the DLQ. The SDK default, 3 attempts, turns 30% throttling into a
/// failed call about once in 40.
///
/// Not adaptive mode: its client-side rate limiter cuts the sending rate on every
/// throttling error and recovers slowly, so under throttling that is not caused by our own
/// rate (another client spending the account's quota, measured by the chaos suite) it
/// crawled at its minimum rate — 30 certificates took over 15 minutes. Where a quota is
/// known, our own token bucket paces the caller instead ([`crate::iot::IotRegistry::with_rate_limit`]).
pub fn retry_policy() -> aws_config::retry::RetryConfig {
    aws_config::retry::RetryConfig::standard()
        .with_max_attempts(10)
        .with_initial_backoff(std::time::Duration::from_millis(100))
        .with_max_backoff(std::time::Duration::from_secs(20))
}

/// The SDK's timeout configuration for `timeouts`.
pub fn timeout_config(timeouts: &CallTimeouts) -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(timeouts.connect)
        .read_timeout(timeouts.attempt)
        .operation_attempt_timeout(timeouts.attempt)
        .operation_timeout(timeouts.operation)
        .build()
}

/// The configuration that signs the AssumeRole calls: ambient credentials in the cloud;
/// in the sandbox, static keys that name the sandbox principal this process plays (see
/// [`dr_core::config::SandboxConfig::access_key_id`]).
async fn base_config(topology: &Topology, timeouts: &CallTimeouts) -> SdkConfig {
    let loader = aws_config::defaults(BehaviorVersion::latest())
        .region(SdkRegion::new(topology.dr.region.as_str().to_owned()))
        .retry_config(retry_policy().with_max_attempts(timeouts.max_attempts))
        .timeout_config(timeout_config(timeouts));
    match &topology.sandbox {
        Some(sandbox) => {
            loader
                .endpoint_url(sandbox.endpoint.as_str())
                .credentials_provider(Credentials::new(
                    sandbox.access_key_id(),
                    "sandbox",
                    None,
                    None,
                    "dr-sandbox",
                ))
                .load()
                .await
        }
        None => loader.load().await,
    }
}

/// `side`'s role, assumed through STS in `region`, for calls in `region`.
async fn assumed_config(
    base: &SdkConfig,
    topology: &Topology,
    side: Side,
    region: &Region,
    caller: &str,
    timeouts: &CallTimeouts,
) -> SdkConfig {
    let side_config = topology.side(side);
    let region = SdkRegion::new(region.as_str().to_owned());
    let provider = AssumeRoleProvider::builder(side_config.role_arn.as_str())
        .session_name(format!("{caller}-{side}"))
        .region(region.clone())
        .configure(base)
        .build()
        .await;
    base.to_builder()
        .region(region)
        .credentials_provider(SharedCredentialsProvider::new(provider))
        // AssumeRole is a call like any other: into a hung region it must not wait longer
        // than the caller's operation timeout (the cache's own default is 5 s).
        .identity_cache(
            IdentityCache::lazy()
                .load_timeout(timeouts.operation)
                .build(),
        )
        .build()
}
