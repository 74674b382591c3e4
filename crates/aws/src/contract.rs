//! The deployment contract: everything the CDK app (`infra/`) needs of a topology, as one
//! JSON document. `drctl config export --json` prints it for `cdk synth`; the sandbox hands
//! it to the CDK app's IAM export. The CDK app re-derives nothing: the topology arrives
//! parsed, checked and resolved (defaults, `DRCTL__` overrides), and every name the Rust
//! code computes at run time arrives computed, by the functions that compute it.
//!
//! Keys are snake_case throughout, as in the TOML file and the Rust structs: `[snapshots]
//! dr_kms_key` is `topology.snapshots.dr_kms_key` here and in TypeScript. The top-level
//! keys:
//!
//! * `schema_version` — [`SCHEMA_VERSION`]; the CDK app refuses any other.
//! * `topology` — the resolved [`Topology`], as serde writes it (optional values unset are
//!   absent or `null`).
//! * `snapshot_policies` — each protected database's policy with the `[snapshots]`
//!   defaults applied ([`Topology::snapshot_policies`]), and its kind.
//! * `names` — resource names and ARNs ([`crate::names`], the operators' topic), key
//!   aliases, table keys, the metrics' namespace.
//! * `serving_alarm` — the data-plane switch's alarm and health check ([`ServingAlarm`]).
//! * `functions` — each Lambda: its name, home side, the sides it calls, its roles and the
//!   role overrides it runs with.
//! * `lambda_config` — the variable naming a Lambda's config file, and that file: the
//!   topology as TOML without `[sandbox]`.
//!
//! Bump [`SCHEMA_VERSION`] when a key is renamed or removed or changes meaning (adding one
//! does not break a reader), and regenerate `infra/test/fixtures/contract*.json`.

use dr_core::replication::Lane;
use std::collections::BTreeMap;

use dr_core::report::emf;
use dr_core::snapshots::{DatabaseKind, SnapshotPolicy, TAG_MANAGED};
use dr_core::{Side, Topology};
use serde::Serialize;

use crate::failover::{operator_topic_arn, ServingAlarm};
use crate::names;

/// The contract's shape; the CDK app's `infra/lib/config.ts` reads exactly this version.
pub const SCHEMA_VERSION: u32 = 1;

/// Why the contract could not be written (a bug, not a config mistake: the topology was
/// already checked).
#[derive(Debug, thiserror::Error)]
pub enum ContractError {
    /// The Lambdas' config file could not be written.
    #[error("the topology cannot be written as TOML for the Lambdas' config layer: {0}")]
    LambdaConfig(#[from] toml::ser::Error),
    /// The document could not be written.
    #[error("the contract cannot be written as JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// The contract of `topology`, as a JSON value.
pub fn export(topology: &Topology) -> Result<serde_json::Value, ContractError> {
    Ok(serde_json::to_value(Contract::of(topology)?)?)
}

/// The contract of `topology` as text: pretty JSON in the structs' order (the schema
/// version first) and a final newline, what drctl prints and the committed fixtures hold.
pub fn render(topology: &Topology) -> Result<String, ContractError> {
    let mut text = serde_json::to_string_pretty(&Contract::of(topology)?)?;
    text.push('\n');
    Ok(text)
}

#[derive(Debug, Serialize)]
struct Contract<'a> {
    schema_version: u32,
    topology: &'a Topology,
    snapshot_policies: Vec<DatabasePolicy>,
    names: Names,
    serving_alarm: ServingAlarm,
    functions: Vec<Function>,
    lambda_config: LambdaConfig,
}

impl<'a> Contract<'a> {
    fn of(topology: &'a Topology) -> Result<Self, ContractError> {
        Ok(Self {
            schema_version: SCHEMA_VERSION,
            topology,
            snapshot_policies: topology
                .snapshot_policies()
                .into_iter()
                .map(|(kind, policy)| DatabasePolicy { kind, policy })
                .collect(),
            names: Names::of(topology),
            serving_alarm: ServingAlarm::of(topology),
            functions: names::functions()
                .map(|function| Function::of(topology, function))
                .collect(),
            lambda_config: LambdaConfig::of(topology)?,
        })
    }
}

/// One protected database: its kind and its resolved policy, side by side.
#[derive(Debug, Serialize)]
struct DatabasePolicy {
    kind: DatabaseKind,
    #[serde(flatten)]
    policy: SnapshotPolicy,
}

/// What the Rust code names at run time, and the stacks must create under those names.
#[derive(Debug, Serialize)]
struct Names {
    replication_topic_name: String,
    replication_topic_arn: String,
    replication_queue_name: String,
    replication_queue_arn: String,
    /// The shadow lane (`[replication] shadow_topic`, `shadow_queue`).
    shadow_topic_name: String,
    shadow_topic_arn: String,
    shadow_queue_name: String,
    shadow_queue_arn: String,
    dead_letter_queue_name: String,
    dead_letter_queue_arn: String,
    /// Redeliveries before SQS dead-letters a replication message.
    max_receive_count: u32,
    operator_topic_arn: String,
    domain_configuration_name: String,
    replication_key_alias: &'static str,
    operators_key_alias: &'static str,
    /// The `[snapshots]` keys the stacks create, by alias; `null`: the config names an
    /// existing key by ARN.
    regional_snapshot_key_alias: Option<String>,
    dr_snapshot_key_alias: Option<String>,
    ledger_table_key: &'static str,
    state_table_key: &'static str,
    metrics_namespace: &'static str,
    metrics_function_dimension: &'static str,
    /// The tag marking the snapshots the controller manages (value `true`).
    managed_snapshot_tag: &'static str,
    /// The Service Quotas service and codes readiness reads in both accounts (the fleet's
    /// RTO); operators may read exactly these applied quotas.
    iot_quota_service: &'static str,
    iot_quota_codes: Vec<&'static str>,
}

impl Names {
    fn of(topology: &Topology) -> Self {
        let queue = names::replication_queue_name(topology);
        let dead_letters = names::dead_letter_queue_name(topology);
        let alias = |key: &str| names::created_key_alias(key).map(str::to_owned);
        Self {
            replication_topic_name: names::replication_topic_name(topology),
            replication_topic_arn: names::replication_topic_arn(topology),
            replication_queue_arn: names::dr_queue_arn(topology, &queue),
            replication_queue_name: queue,
            shadow_topic_name: names::shadow_topic_name(topology),
            shadow_topic_arn: names::lane_topic_arn(topology, Lane::Shadows),
            shadow_queue_arn: names::dr_queue_arn(topology, &names::shadow_queue_name(topology)),
            shadow_queue_name: names::shadow_queue_name(topology),
            dead_letter_queue_arn: names::dr_queue_arn(topology, &dead_letters),
            dead_letter_queue_name: dead_letters,
            max_receive_count: names::MAX_RECEIVE_COUNT,
            operator_topic_arn: operator_topic_arn(topology),
            domain_configuration_name: names::domain_configuration_name(topology),
            replication_key_alias: names::REPLICATION_KEY_ALIAS,
            operators_key_alias: names::OPERATORS_KEY_ALIAS,
            regional_snapshot_key_alias: alias(&topology.snapshots.regional_kms_key),
            dr_snapshot_key_alias: alias(&topology.snapshots.dr_kms_key),
            ledger_table_key: names::LEDGER_TABLE_KEY,
            state_table_key: names::STATE_TABLE_KEY,
            metrics_namespace: emf::NAMESPACE,
            metrics_function_dimension: emf::FUNCTION_DIMENSION,
            managed_snapshot_tag: TAG_MANAGED,
            iot_quota_service: dr_core::failover::IotQuotaCode::SERVICE,
            iot_quota_codes: dr_core::failover::IotQuotaCode::ALL
                .iter()
                .map(|q| q.code())
                .collect(),
        }
    }
}

/// One Lambda as the stacks deploy it and the sandbox runs it.
#[derive(Debug, Serialize)]
struct Function {
    /// The crate name under `lambdas/`.
    name: &'static str,
    function_name: String,
    home: Side,
    sides_used: &'static [Side],
    execution_role_name: String,
    execution_role_arn: String,
    /// The role it assumes on each side it calls.
    side_roles: Vec<SideRole>,
    /// `DRCTL__PRIMARY__ROLE_ARN` and `DRCTL__DR__ROLE_ARN`.
    role_overrides: BTreeMap<String, String>,
}

#[derive(Debug, Serialize)]
struct SideRole {
    side: Side,
    name: String,
    arn: String,
}

impl Function {
    fn of(topology: &Topology, function: &'static str) -> Self {
        Self {
            name: function,
            function_name: names::function_name(function),
            home: names::home(function),
            sides_used: names::sides_used(function),
            execution_role_name: names::execution_role_name(function),
            execution_role_arn: names::execution_role_arn(topology, function),
            side_roles: names::sides_used(function)
                .iter()
                .map(|&side| SideRole {
                    side,
                    name: names::side_role_name(function, side),
                    arn: names::side_role_arn(topology, function, side).to_string(),
                })
                .collect(),
            role_overrides: names::role_overrides(topology, function)
                .into_iter()
                .map(|(variable, role)| (variable, role.to_string()))
                .collect(),
        }
    }
}

/// What a Lambda reads its topology from.
#[derive(Debug, Serialize)]
struct LambdaConfig {
    /// The variable naming the file ([`crate::runtime::CONFIG_VARIABLE`]).
    variable: &'static str,
    /// The file: the topology as resolved here, without `[sandbox]` (which would point
    /// every SDK client at a loopback emulator). Resolved, not the file as written: the
    /// stacks were built from these values, so the Lambdas must run with them.
    toml: String,
}

impl LambdaConfig {
    fn of(topology: &Topology) -> Result<Self, ContractError> {
        let deployed = Topology {
            sandbox: None,
            ..topology.clone()
        };
        Ok(Self {
            variable: crate::runtime::CONFIG_VARIABLE,
            toml: toml::to_string(&deployed)?,
        })
    }
}

#[cfg(test)]
#[path = "contract_tests.rs"]
mod tests;
