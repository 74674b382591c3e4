//! IAM in the sandbox: every call is authorized against the policies the CDK app grants
//! the caller, as AWS would authorize it. moto does not evaluate IAM; the fault proxy does,
//! with this module, before it forwards a call.
//!
//! * Roles and their policies come from the CDK app ([`roles`], registered per world by
//!   provisioning): exactly the trust and identity policies it synthesizes.
//! * Who calls is known from the access key: the ambient key names a world and a principal
//!   (`sandbox:<world>:<principal>`, see `SandboxConfig::access_key_id`), and the keys of
//!   assumed-role sessions are learnt from the AssumeRole answers this proxy forwarded.
//! * What is asked ([`request`]): the action, the resources of the IAM reference, the
//!   condition keys; evaluated by [`policy`]. Identity policies and role trust are
//!   evaluated; resource policies (topic, queue and key policies) are not.

pub mod policy;
pub mod request;
pub mod roles;

pub use roles::{Iam, IamDecision, Registration, RoleExport, WorldExport};
