//! Adapters from the DR control plane's domain to AWS.
//!
//! * [`session`] — SDK configuration for the primary and DR accounts, reached by AssumeRole,
//!   with one code path for the sandbox and the cloud (the endpoint override is the only
//!   difference).

pub mod session;

pub use session::AwsSession;
