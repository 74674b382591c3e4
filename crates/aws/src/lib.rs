//! Adapters from the DR control plane's domain to AWS.
//!
//! * [`session`] — SDK configuration for the primary and DR accounts, reached by AssumeRole,
//!   with one code path for the sandbox and the cloud (the endpoint override is the only
//!   difference).
//! * [`iot`] — the certificate registry on AWS IoT.
//! * [`ledger`] — the applied-version ledger on DynamoDB.
//! * [`rds`] — the snapshot store on RDS, across both accounts and regions.
//! * [`bus`] — the replication topic on SNS FIFO.
//! * [`names`] — ARNs and URLs of our resources, derived from the topology.
//! * [`contract`] — everything the CDK app needs of a topology, as one JSON document.
//! * [`runtime`] — what every Lambda does at cold start: JSON logs, typed config.
//! * [`dlq`] — the replication DLQ for operators: list with reasons, replay.
//! * [`checkpoint`] — the reconciler's fenced cursor on DynamoDB.
//! * [`failover`] — flow D's state table, operator topic, database recovery and DNS switches.
//! * [`probes`] — TLS, MQTT, HTTPS and CloudWatch-alarm probes of primary.
//! * [`readiness`] — is DR ready to take over: the checks behind `drctl readiness`.
//! * [`error`] — SDK errors mapped to retryable or not.
//! * `call` — one request as every adapter sends it: paced, counted, its error classified.
//! * [`throttling`] — the throttling errors the SDK would not retry, retried.

pub mod backups;
pub mod bus;
mod call;
pub mod checkpoint;
pub mod contract;
pub mod dlq;
pub mod error;
pub mod failover;
pub mod global_database;
pub mod identity;
pub mod iot;
pub mod ledger;
pub mod names;
pub mod probes;
pub mod quotas;
pub mod rds;
pub mod readiness;
pub mod runtime;
pub mod session;
#[cfg(test)]
mod testing;
pub mod throttling;
mod versioned;

pub use session::AwsSession;
