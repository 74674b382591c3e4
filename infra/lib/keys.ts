// Keys a stack needs but another stack owns (another account or region): named by the ARN
// that stack outputs, passed as context. Without it the app still synthesizes (the other
// stacks can be deployed first, which is the order they need), with a placeholder ARN that
// grants nothing, a warning, and a CloudFormation rule that fails this stack's deploy at
// once, naming the context to pass.

import { Annotations, CfnOutput, CfnRule, Fn, type Stack } from 'aws-cdk-lib';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type { Contract } from './config';
import type { Settings } from './settings';

/** The ARN of a key of another stack: `given` (context), or a placeholder and an error. */
export function foreignKeyArn(stack: Stack, given: string | undefined, context: string, owner: string, account: string, region: string): string {
  if (given) {
    if (!new RegExp(`^arn:aws[a-z-]*:kms:${region}:${account}:key/`).test(given)) {
      throw new Error(`context ${context}: expected a key ARN in account ${account}, region ${region} (the ${owner} stack's output), got ${JSON.stringify(given)}`);
    }
    return given;
  }
  const why = `context ${context} is missing: deploy ${owner} first and pass -c ${context}=<its output ${context.replace(/^./, (c) => c.toUpperCase())}> (IAM grants on a key of another account or region need the key's ARN)`;
  Annotations.of(stack).addWarningV2(`iot-dr:missing-${context}`, `${why}; this stack cannot be deployed until then`);
  if (!stack.node.tryFindChild(`Missing${context}`)) {
    new CfnRule(stack, `Missing${context}`, {
      assertions: [{ assert: Fn.conditionEquals(`missing-${context}`, 'given'), assertDescription: why }],
    });
  }
  return `arn:aws:kms:${region}:${account}:key/missing-context-${context}`;
}

/** The regional snapshot key's ARN (primary's account, DR region), for a stack that grants on it. */
export function regionalSnapshotKeyArn(stack: Stack, c: Contract, settings: Settings): string {
  const t = c.topology;
  // An existing key, named by ARN in the config.
  if (c.names.regional_snapshot_key_alias === null) return t.snapshots.regional_kms_key;
  return foreignKeyArn(stack, settings.regionalSnapshotKeyArn, 'regionalSnapshotKeyArn', 'IotDr-PrimarySnapshotKey', t.primary.account_id, t.dr.region);
}

/** Output a key's ARN under `name`, for the stacks that need it (`-c <name in camelCase>=…`). */
export function outputKeyArn(stack: Stack, name: string, key: kms.IKey, description: string): void {
  new CfnOutput(stack, name, { value: key.keyArn, description });
}
