// The roles the functions assume, one per function per side, created in the side's account.
//
// Trust: a function in the same account is trusted by its execution role directly; a
// function in the other account is trusted through that account's root with an
// `aws:PrincipalArn` condition naming the execution role. The latter is deliberate: IAM,
// KMS and SNS refuse a policy naming a role ARN that does not exist yet, and each stack
// names the other account's roles, so direct ARNs would force a deploy order that no order
// satisfies (primary's roles trust DR's execution roles; DR's topic trusts primary's
// capture role). The condition is evaluated at call time instead; the other account's
// execution role still needs its own sts:AssumeRole permission (lambda.ts grants exactly
// these ARNs).

import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import type { Contract, Topology } from './config';
import * as names from './names';
import { operatorStatements, sideStatements, type LocalRefs } from './permissions';

type Side = 'primary' | 'dr';

/** The other account's principal `arn`, matched by `aws:PrincipalArn`. */
export function crossAccountPrincipal(account: string, arns: string[]): iam.IPrincipal {
  return new iam.AccountPrincipal(account).withConditions({ ArnEquals: { 'aws:PrincipalArn': arns.length === 1 ? arns[0] : arns } });
}

/**
 * Create `side`'s role of every function that calls `side`. `localExecutionRoles` are the
 * execution roles of functions running in this stack (same account: trusted directly).
 */
export function createSideRoles(
  scope: Construct,
  c: Contract,
  side: Side,
  localExecutionRoles: Partial<Record<names.FunctionName, iam.IRole>>,
  refs: LocalRefs = {},
): Record<string, iam.Role> {
  const t = c.topology;
  const roles: Record<string, iam.Role> = {};
  for (const fn of names.FUNCTIONS) {
    if (!names.usesSide(c, fn, side)) continue;
    const home = names.fn(c, fn).home;
    const local = localExecutionRoles[fn];
    let trusted: iam.IPrincipal;
    if (home === side) {
      if (!local) throw new Error(`${fn} runs in ${side} but its execution role was not given`);
      trusted = new iam.ArnPrincipal(local.roleArn);
    } else {
      trusted = crossAccountPrincipal(t[home].account_id, [names.executionRoleArn(c, fn)]);
    }
    const statements = sideStatements(c, fn, side, refs);
    const role = new iam.Role(scope, `${camel(fn)}${side === 'primary' ? 'Primary' : 'Dr'}Role`, {
      roleName: names.sideRole(c, fn, side).name,
      description: `Assumed by ${names.fn(c, fn).function_name} (${home}) to act in ${side}; DRCTL__${side.toUpperCase()}__ROLE_ARN`,
      assumedBy: trusted,
      maxSessionDuration: undefined,
      inlinePolicies:
        statements.length > 0 ? { [`${fn}-${side}`]: new iam.PolicyDocument({ statements }) } : undefined,
    });
    roles[fn] = role;
  }
  return roles;
}

/**
 * The sides whose operators' role (`[primary|dr] role_arn`) the stack of `stackSide`
 * creates. Each stack creates its own side's; in a one-account topology both sides may name
 * the same role (one IAM name per account), and the DR stack creates it for both.
 */
export function operatorRoleSides(t: Topology, stackSide: Side): Side[] {
  if (t.primary.role_arn !== t.dr.role_arn) return [stackSide];
  return stackSide === 'dr' ? ['primary', 'dr'] : [];
}

/**
 * The operators' role (what `drctl` assumes) for `sides`: the union of the functions'
 * permissions there plus drctl's own reads. Created only when the deployer names who may
 * assume it.
 */
export function createOperatorRole(scope: Construct, c: Contract, sides: Side[], operatorPrincipal: string, refs: LocalRefs = {}): iam.Role {
  const arn = c.topology[sides[0]].role_arn;
  const resource = arn.split(':').slice(5).join(':'); // role/<path/>name
  const parts = resource.replace(/^role\//, '').split('/');
  const roleName = parts.pop() as string;
  const rolePath = parts.length > 0 ? `/${parts.join('/')}/` : '/';
  const role = new iam.Role(scope, 'OperatorRole', {
    roleName,
    path: rolePath,
    description: 'Assumed by drctl (operators) to act in this account; the topology role_arn',
    assumedBy: new iam.ArnPrincipal(operatorPrincipal),
  });
  // One customer-managed policy per function's share (inline policies of a role may total
  // only 10,240 characters; a managed policy 6,144 each).
  for (const side of sides) {
    const groups = operatorStatements(c, side, refs);
    for (const [group, statements] of Object.entries(groups)) {
      if (statements.length === 0) continue;
      const prefix = sides.length > 1 ? `Operator${side === 'primary' ? 'Primary' : 'Dr'}` : 'Operator';
      new iam.ManagedPolicy(scope, `${prefix}${camel(group)}Policy`, {
        description: `drctl: ${group} permissions in ${side}`,
        statements,
        roles: [role],
      });
    }
  }
  return role;
}

export function camel(fn: string): string {
  return fn.replace(/(^|-)(\w)/g, (_, _d: string, c: string) => c.toUpperCase());
}
