//! Integration tests against the local two-account sandbox: real SDK calls to a real moto
//! server on loopback. One binary, one shared server per run (see [`helpers`]), unique
//! names per test so tests run in parallel without seeing each other.

mod helpers;
mod pipeline;

mod chaos;
mod cli;
mod database_parameter;
mod device_contract;
mod e2e;
mod enrolment;
mod exclusive_thing;
mod failback_database;
mod failover;
mod failover_fencing;
mod fleet_rto;
mod game_day;
mod global_database;
mod launcher;
mod launcher_route53;
mod network;
mod outage;
mod plain;
mod primary_endpoint;
mod readiness_registry;
mod reconcile;
mod replication;
mod restores;
mod session;
mod shadows;
mod snapshot_pipeline;
mod snapshots;
mod thing_groups;
mod topic_rules;
