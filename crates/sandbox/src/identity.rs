//! Who a sandbox process is, as the CDK app deploys it. A Lambda holds its execution role's
//! credentials and assumes its own role on each side it calls (`iot-dr-<function>-<side>`,
//! `DRCTL__PRIMARY__ROLE_ARN` / `DRCTL__DR__ROLE_ARN` in `infra/lib/lambda.ts`); drctl is
//! the operator, assuming the topology's `role_arn`s; provisioning and the harness are the
//! administrator, whom the sandbox does not evaluate.
//!
//! Which function calls which side, and the roles it holds there, are `dr_aws::names`'s:
//! the CDK app reads the same through the deployment contract (`dr_aws::contract`).

use dr_aws::names::{role_overrides, side_role_arn, sides_used};
use dr_core::{SandboxPrincipal, Side, Topology};

/// The operators' principal the sandbox plays (`-c operatorPrincipal`): a role in DR's
/// account that may assume both sides' `role_arn`.
pub fn operator_principal_arn(topology: &Topology) -> String {
    format!(
        "arn:aws:iam::{}:role/sandbox-operator",
        topology.dr.account_id
    )
}

/// `topology` as `principal` holds it.
pub fn as_principal(topology: &Topology, principal: SandboxPrincipal) -> Topology {
    let mut topology = topology.clone();
    if let SandboxPrincipal::Function(function) = &principal {
        for side in sides_used(function) {
            let role = side_role_arn(&topology, function, *side);
            match side {
                Side::Primary => topology.primary.role_arn = role,
                Side::Dr => topology.dr.role_arn = role,
            }
        }
    }
    if let Some(sandbox) = topology.sandbox.as_mut() {
        sandbox.principal = principal;
    }
    topology
}

/// `topology` as the Lambda `function` holds it.
pub fn as_function(topology: &Topology, function: &str) -> Topology {
    as_principal(topology, SandboxPrincipal::Function(function.to_owned()))
}

/// `topology` as the account administrator holds it (provisioning, the harness).
pub fn as_admin(topology: &Topology) -> Topology {
    as_principal(topology, SandboxPrincipal::Admin)
}

/// `topology` as the operators hold it (drctl).
pub fn as_operator(topology: &Topology) -> Topology {
    as_principal(topology, SandboxPrincipal::Operator)
}

/// The environment a Lambda of `function` gets in the sandbox: its roles (as the CDK app
/// sets them), its principal and its world.
pub fn function_env(topology: &Topology, function: &str) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = role_overrides(topology, function)
        .into_iter()
        .map(|(variable, role)| (variable, role.to_string()))
        .collect();
    env.push((
        "DRCTL__SANDBOX__PRINCIPAL".to_owned(),
        format!("function:{function}"),
    ));
    if let Some(sandbox) = &topology.sandbox {
        env.push((
            "DRCTL__SANDBOX__WORLD".to_owned(),
            sandbox.world.to_string(),
        ));
    }
    env
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
    fn a_function_holds_its_own_roles_on_the_sides_it_calls_only() {
        let t = topology();
        let capture = as_function(&t, "cert-capture");
        assert_eq!(
            capture.primary.role_arn.as_str(),
            "arn:aws:iam::111111111111:role/iot-dr-cert-capture-primary"
        );
        // It never calls DR: the config's role stays, never assumed.
        assert_eq!(capture.dr.role_arn, t.dr.role_arn);
        assert_eq!(
            capture.sandbox.unwrap().access_key_id(),
            "sandbox:default:function:cert-capture"
        );
        let env = function_env(&t, "health-checker");
        assert!(env.contains(&(
            "DRCTL__DR__ROLE_ARN".to_owned(),
            "arn:aws:iam::222222222222:role/iot-dr-health-checker-dr".to_owned()
        )));
        assert_eq!(
            as_admin(&t).sandbox.unwrap().access_key_id(),
            "sandbox:default:admin"
        );
    }
}
