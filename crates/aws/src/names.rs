//! Where our resources live, derived from the topology: one place, so capture, the
//! replicator, provisioning, drctl and the CDK app (through [`crate::contract`]) can never
//! disagree.

use dr_core::config::ENV_PREFIX;
use dr_core::replication::Lane;
use dr_core::{RoleArn, Side, Topology, FUNCTIONS};

/// The replication topic and queues are FIFO (per-certificate order); AWS requires the suffix.
pub const FIFO_SUFFIX: &str = ".fifo";

/// Redeliveries of a replication message before SQS dead-letters it: enough to ride out
/// throttling.
pub const MAX_RECEIVE_COUNT: u32 = 5;

/// The KMS key alias (DR account and region) the replication topic and queues are encrypted
/// with.
pub const REPLICATION_KEY_ALIAS: &str = "alias/dr-replication";

/// The KMS key alias (each side) the operators' topic is encrypted with.
pub const OPERATORS_KEY_ALIAS: &str = "alias/dr-operators";

/// The partition key (S) of the ledger table; the reconciler's cursor shares it.
pub const LEDGER_TABLE_KEY: &str = "subject";

/// The partition key (S) of the failover state table.
pub const STATE_TABLE_KEY: &str = "id";

/// The replication topic's name.
pub fn replication_topic_name(topology: &Topology) -> String {
    format!("{}{FIFO_SUFFIX}", topology.replication.topic)
}

/// The DR-owned replication topic's ARN (the registry lane's).
pub fn replication_topic_arn(topology: &Topology) -> String {
    lane_topic_arn(topology, Lane::Registry)
}

/// The replication queue's name.
pub fn replication_queue_name(topology: &Topology) -> String {
    format!("{}{FIFO_SUFFIX}", topology.replication.queue)
}

/// The shadow lane's topic name.
pub fn shadow_topic_name(topology: &Topology) -> String {
    format!("{}{FIFO_SUFFIX}", topology.replication.shadow_topic)
}

/// The shadow lane's queue name.
pub fn shadow_queue_name(topology: &Topology) -> String {
    format!("{}{FIFO_SUFFIX}", topology.replication.shadow_queue)
}

/// A lane's topic name.
pub fn lane_topic_name(topology: &Topology, lane: Lane) -> String {
    match lane {
        Lane::Registry => replication_topic_name(topology),
        Lane::Shadows => shadow_topic_name(topology),
    }
}

/// A lane's topic ARN (DR-owned).
pub fn lane_topic_arn(topology: &Topology, lane: Lane) -> String {
    format!(
        "arn:aws:sns:{}:{}:{}",
        topology.dr.region,
        topology.dr.account_id,
        lane_topic_name(topology, lane)
    )
}

/// A lane's queue name.
pub fn lane_queue_name(topology: &Topology, lane: Lane) -> String {
    match lane {
        Lane::Registry => replication_queue_name(topology),
        Lane::Shadows => shadow_queue_name(topology),
    }
}

/// The replication dead-letter queue's name (both lanes dead-letter into it).
pub fn dead_letter_queue_name(topology: &Topology) -> String {
    format!("{}{FIFO_SUFFIX}", topology.replication.dead_letter_queue)
}

/// A queue's ARN in the DR account.
pub fn dr_queue_arn(topology: &Topology, queue_name: &str) -> String {
    format!(
        "arn:aws:sqs:{}:{}:{queue_name}",
        topology.dr.region, topology.dr.account_id
    )
}

/// The IoT domain configuration serving `[dns] record` on each side.
pub fn domain_configuration_name(topology: &Topology) -> String {
    format!("iot-dr-{}", topology.dns.record.as_str().replace('.', "-"))
}

/// The alias of a `[snapshots]` key the deployment creates, or `None` when the config names
/// an existing key by ARN (then its owner manages it). `alias/aws/…` keys are AWS-managed:
/// never ours to create (and the config refuses them).
pub fn created_key_alias(key: &str) -> Option<&str> {
    (key.starts_with("alias/") && !key.starts_with("alias/aws/")).then_some(key)
}

// ---- The Lambdas: where each runs, which sides it calls, the roles it holds. ----

/// Where `function` (one of [`FUNCTIONS`]) runs: capture in primary, beside the registry it
/// watches; everything else in DR, which must work while primary is down.
pub fn home(function: &str) -> Side {
    if function == "cert-capture" {
        Side::Primary
    } else {
        Side::Dr
    }
}

/// The sides `function` calls; it never assumes its role on another. Capture publishes to
/// DR's topic with its primary role; the replicator never calls primary; the health
/// checker reads primary's alarms and replicated backups.
pub fn sides_used(function: &str) -> &'static [Side] {
    match function {
        "cert-capture" => &[Side::Primary],
        "cert-replicator" => &[Side::Dr],
        "reconciler" | "snapshot-controller" | "health-checker" => &[Side::Primary, Side::Dr],
        _ => &[],
    }
}

/// The Lambda function's name.
pub fn function_name(function: &str) -> String {
    format!("iot-dr-{function}")
}

/// The name of `function`'s execution role, in its home account.
pub fn execution_role_name(function: &str) -> String {
    format!("iot-dr-{function}-exec")
}

/// The ARN of `function`'s execution role.
pub fn execution_role_arn(topology: &Topology, function: &str) -> String {
    format!(
        "arn:aws:iam::{}:role/{}",
        topology.side(home(function)).account_id,
        execution_role_name(function)
    )
}

/// The name of the role `function` assumes on `side`, in that side's account.
pub fn side_role_name(function: &str, side: Side) -> String {
    format!("iot-dr-{function}-{side}")
}

/// The role `function` assumes on `side`.
pub fn side_role_arn(topology: &Topology, function: &str, side: Side) -> RoleArn {
    format!(
        "arn:aws:iam::{}:role/{}",
        topology.side(side).account_id,
        side_role_name(function, side)
    )
    .parse()
    .expect("a role ARN made of an account id and a role name")
}

/// The variable that overrides `side`'s `role_arn` (`DRCTL__PRIMARY__ROLE_ARN`).
pub fn role_override_variable(side: Side) -> String {
    format!(
        "{ENV_PREFIX}{}__ROLE_ARN",
        side.to_string().to_ascii_uppercase()
    )
}

/// The role overrides `function` runs with, as the CDK app sets them and the sandbox
/// plays them: its own role on each side it calls; on a side it never calls, the config's
/// role (the session assumes a side's role on first use only: never).
pub fn role_overrides(topology: &Topology, function: &str) -> Vec<(String, RoleArn)> {
    [Side::Primary, Side::Dr]
        .into_iter()
        .map(|side| {
            let role = if sides_used(function).contains(&side) {
                side_role_arn(topology, function, side)
            } else {
                topology.side(side).role_arn.clone()
            };
            (role_override_variable(side), role)
        })
        .collect()
}

/// Every Lambda of the control plane, by crate name ([`FUNCTIONS`]).
pub fn functions() -> impl Iterator<Item = &'static str> {
    FUNCTIONS.iter().copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topology() -> Topology {
        Topology::parse(
            include_str!("../../../config/sandbox.toml"),
            "config/sandbox.toml",
            std::iter::empty(),
        )
        .unwrap()
    }

    #[test]
    fn every_function_runs_somewhere_and_calls_its_home() {
        for function in functions() {
            assert!(
                sides_used(function).contains(&home(function)),
                "{function} calls its own side"
            );
        }
    }

    #[test]
    fn a_function_keeps_the_config_role_on_a_side_it_never_calls() {
        let t = topology();
        let overrides = role_overrides(&t, "cert-capture");
        assert_eq!(
            overrides,
            vec![
                (
                    "DRCTL__PRIMARY__ROLE_ARN".to_owned(),
                    "arn:aws:iam::111111111111:role/iot-dr-cert-capture-primary"
                        .parse()
                        .unwrap()
                ),
                ("DRCTL__DR__ROLE_ARN".to_owned(), t.dr.role_arn.clone()),
            ]
        );
        assert_eq!(
            execution_role_arn(&t, "reconciler"),
            "arn:aws:iam::222222222222:role/iot-dr-reconciler-exec"
        );
    }

    #[test]
    fn only_customer_keys_named_by_alias_are_created() {
        assert_eq!(
            created_key_alias("alias/dr-snapshots"),
            Some("alias/dr-snapshots")
        );
        assert_eq!(created_key_alias("alias/aws/rds"), None);
        assert_eq!(
            created_key_alias("arn:aws:kms:us-west-2:222222222222:key/1234"),
            None
        );
    }
}
