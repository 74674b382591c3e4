//! Probes of primary, as configured in `[[failover.probes]]`: a TLS handshake with SNI
//! (and ALPN `x-amzn-mqtt-ca` on 443), an MQTT CONNECT with a canary certificate, an HTTPS
//! GET, and CloudWatch alarm states in primary. Each probe has its own timeout and reports
//! its latency and a reason; a round runs them all at once, so an outage costs one timeout,
//! not the sum of them.
//!
//! One file per probe kind (`tls`, `mqtt`, `https`, `alarm`), the configured [`Probe`]
//! that builds and runs any of them (`probe`), and the round that runs them all at once
//! (`round`).

mod alarm;
mod https;
mod mqtt;
mod probe;
mod round;
mod tls;

pub use probe::{Probe, ProbeConfigError};
pub use round::{run_round, Probes};
pub use tls::TlsTargetHandle;
