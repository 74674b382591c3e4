// Primary's account in the DR region: the customer-managed key (`[snapshots]
// regional_kms_key`) that re-encrypts the regional snapshot copies, shared with the DR
// account so DR can make its own copy. A stack of its own because a stack has one account
// and one region, and this key lives in neither the primary stack's region nor the DR
// stack's account. (The AWS-managed aws/rds key cannot be shared across accounts at all.)

import { RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type { Construct } from 'constructs';
import { outputKeyArn } from './keys';
import * as names from './names';
import type { IotDrStackProps } from './primary-stack';
import { crossAccountPrincipal } from './roles';

export class PrimarySnapshotKeyStack extends Stack {
  readonly key?: kms.Key;

  constructor(scope: Construct, id: string, props: IotDrStackProps) {
    const c = props.contract;
    const t = c.topology;
    super(scope, id, {
      ...props,
      env: { account: t.primary.account_id, region: t.dr.region },
      description: `IoT DR control plane, primary account in the DR region: the snapshot key ${t.snapshots.regional_kms_key} shared with DR`,
    });
    const alias = c.names.regional_snapshot_key_alias;
    if (alias === null) return; // an existing key, by ARN: its policy is its owner's

    this.key = new kms.Key(this, 'RegionalSnapshotKey', {
      alias,
      description: 'Re-encrypts fleet database snapshot copies in the DR region; DR copies them with its own key (customer-managed: aws/rds cannot be shared)',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // DR's snapshot controller copies the shared snapshot (and operators' drctl may); RDS
    // creates grants on their behalf. Named by aws:PrincipalArn: see roles.ts.
    const drPrincipals = [names.sideRoleArn(c, 'snapshot-controller', 'dr'), t.dr.role_arn];
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'DrCopiesSnapshotsEncryptedWithIt',
        principals: [crossAccountPrincipal(t.dr.account_id, drPrincipals)],
        actions: ['kms:Decrypt', 'kms:DescribeKey', 'kms:ReEncryptFrom'],
        resources: ['*'],
      }),
    );
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'DrGrantsRdsTheKey',
        principals: [crossAccountPrincipal(t.dr.account_id, drPrincipals)],
        actions: ['kms:CreateGrant'],
        resources: ['*'],
        conditions: { Bool: { 'kms:GrantIsForAWSResource': 'true' } },
      }),
    );
    outputKeyArn(this, 'RegionalSnapshotKeyArn', this.key, 'The regional snapshot key: pass it to the primary and DR stacks as -c regionalSnapshotKeyArn=…');
  }
}
