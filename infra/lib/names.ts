// Every name and ARN that one account needs of the other. CloudFormation exports cannot
// cross accounts, so both stacks read the same strings from the deployment contract: the
// names the Rust code uses at run time arrive there computed by it (contract.names,
// contract.functions); what is left here is this app's own (stack names, IAM patterns).

import type { Contract, FunctionContract, FunctionName, Side } from './config';

export { DEPLOYED_FUNCTIONS as FUNCTIONS, type FunctionName } from './config';

/** One Lambda of the contract. */
export function fn(c: Contract, name: FunctionName): FunctionContract {
  const found = c.functions.find((f) => f.name === name);
  if (!found) throw new Error(`the contract has no function ${name}`);
  return found;
}

/** Whether `name` calls `side` (the session assumes a side's role on first use: never, if not). */
export const usesSide = (c: Contract, name: FunctionName, side: Side): boolean => fn(c, name).sides_used.includes(side);

/** The role `name` assumes on `side`, in that side's account; only for a side it calls. */
export function sideRole(c: Contract, name: FunctionName, side: Side): { readonly name: string; readonly arn: string } {
  const role = fn(c, name).side_roles.find((r) => r.side === side);
  if (!role) throw new Error(`${name} never calls ${side}: it has no role there`);
  return role;
}

export const sideRoleArn = (c: Contract, name: FunctionName, side: Side): string => sideRole(c, name, side).arn;

export const executionRoleArn = (c: Contract, name: FunctionName): string => fn(c, name).execution_role_arn;

/** The capture's role in primary: the only principal the DR topic lets publish. */
export const captureRoleArn = (c: Contract) => sideRoleArn(c, 'cert-capture', 'primary');

/** A KMS key ARN pattern for every key of an account and region. */
export const keysIn = (account: string, region: string) => `arn:aws:kms:${region}:${account}:key/*`;

/** Stack names. */
export const STACKS = {
  primary: 'IotDr-Primary',
  primarySnapshotKey: 'IotDr-PrimarySnapshotKey',
  dr: 'IotDr-Dr',
} as const;
