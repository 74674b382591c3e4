//! The account quotas the fleet's RTO rests on, read from Service Quotas: the applied value
//! where the account has one (raised, or set by AWS for the account), else AWS's default.

use aws_sdk_servicequotas::operation::get_service_quota::GetServiceQuotaError;
use dr_core::failover::{IotQuotaCode, IotQuotas};
use dr_core::port::PortError;
use dr_core::Side;

use crate::error::port_error;
use crate::AwsSession;

/// One quota's value and where it came from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuotaValue {
    /// The value.
    pub value: f64,
    /// `true`: the account's applied value; `false`: AWS's default (no applied value).
    pub applied: bool,
}

/// Every [`IotQuotaCode`] of one side's account and region, in [`IotQuotaCode::ALL`]'s
/// order (all at once: each is one call).
pub async fn iot_quotas(
    session: &AwsSession,
    side: Side,
) -> Result<Vec<(IotQuotaCode, QuotaValue)>, PortError> {
    let [a, b, c, d] = IotQuotaCode::ALL;
    let read = |code| async move { quota(session, side, code).await.map(|value| (code, value)) };
    let (a, b, c, d) = tokio::join!(read(a), read(b), read(c), read(d));
    Ok(vec![a?, b?, c?, d?])
}

/// One quota: GetServiceQuota, falling back to GetAWSDefaultServiceQuota when the account
/// has no applied value (Service Quotas answers NoSuchResourceException then).
pub async fn quota(
    session: &AwsSession,
    side: Side,
    code: IotQuotaCode,
) -> Result<QuotaValue, PortError> {
    let client = session.service_quotas(side);
    match client
        .get_service_quota()
        .service_code(IotQuotaCode::SERVICE)
        .quota_code(code.code())
        .send()
        .await
    {
        Ok(found) => {
            if let Some(value) = found.quota().and_then(|q| q.value()) {
                return Ok(QuotaValue {
                    value,
                    applied: true,
                });
            }
        }
        Err(e)
            if !matches!(
                e.as_service_error(),
                Some(GetServiceQuotaError::NoSuchResourceException(_))
            ) =>
        {
            return Err(port_error("GetServiceQuota", e));
        }
        Err(_) => {}
    }
    let default = client
        .get_aws_default_service_quota()
        .service_code(IotQuotaCode::SERVICE)
        .quota_code(code.code())
        .send()
        .await
        .map_err(|e| port_error("GetAWSDefaultServiceQuota", e))?;
    let value = default
        .quota()
        .and_then(|q| q.value())
        .ok_or_else(|| PortError {
            retryable: false,
            operation: "GetAWSDefaultServiceQuota".to_owned(),
            message: format!("{} ({}) has no value", code.code(), code.name()),
            no_answer: None,
        })?;
    Ok(QuotaValue {
        value,
        applied: false,
    })
}

/// The model's quotas from what was read.
pub fn model_quotas(read: &[(IotQuotaCode, QuotaValue)]) -> IotQuotas {
    let of = |wanted: IotQuotaCode| {
        read.iter()
            .find(|(code, _)| *code == wanted)
            .map(|(_, v)| v.value)
    };
    let assumed = IotQuotas::ASSUMED;
    IotQuotas {
        connects_per_second: of(IotQuotaCode::ConnectsPerSecond)
            .unwrap_or(assumed.connects_per_second),
        subscriptions_per_second: of(IotQuotaCode::SubscriptionsPerSecond)
            .unwrap_or(assumed.subscriptions_per_second),
        concurrent_connections: of(IotQuotaCode::ConcurrentConnections)
            .map(|v| v as u64)
            .unwrap_or(assumed.concurrent_connections),
    }
}
