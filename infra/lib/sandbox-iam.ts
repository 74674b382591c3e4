// The roles this app creates, with exactly the trust and identity policies it synthesizes,
// for the sandbox's IAM (crates/sandbox/src/iam): one source of truth. The sandbox runs
// every Lambda and drctl command under these roles and refuses what they do not allow.
//
// Read from the stacks' CloudFormation (each resource rendered and resolved as synth
// renders it, without staging assets), built from the topology's deployment contract (which
// the sandbox's provisioning builds with the code `drctl config export` runs and pipes in),
// so what the sandbox enforces is what a deploy creates; infra/test/sandbox-iam.test.ts
// compares it with a real synth. References the
// sandbox can only know after it provisions are left as placeholders it fills in:
//   {{kms-key-id:<alias>}}   the id of the key with that alias (in the ARN's account/region)
//   {{hosted-zone-id}}       the id of the `[dns] zone` hosted zone in the DR account

import * as fs from 'node:fs';
import { App, CfnResource, Stack } from 'aws-cdk-lib';
import { addStacks, cdkJsonContext } from './app';
import type { Contract } from './config';
import { readSettings } from './settings';

/** One role, as crates/sandbox/src/iam/roles.rs `RoleExport` reads it. */
export interface RoleExport {
  readonly arn: string;
  readonly kind: 'execution' | 'side' | 'operator';
  readonly function?: string;
  readonly trust: unknown;
  readonly policies: unknown[];
}

export interface WorldExport {
  readonly roles: RoleExport[];
  readonly operatorPrincipal?: string;
}

/** A CloudFormation template's `Resources`, as synth writes them. */
export type Resources = Record<string, { Type: string; Properties?: Record<string, any> }>;

/** The context that makes a synth of `c` exportable to the sandbox. */
export function sandboxContext(c: Contract, operatorPrincipal: string): Record<string, string> {
  const t = c.topology;
  const keyArn = (account: string, region: string, alias: string) => `arn:aws:kms:${region}:${account}:key/{{kms-key-id:${alias}}}`;
  return {
    allowPlaceholderAssets: 'true',
    operatorPrincipal,
    hostedZoneId: '{{hosted-zone-id}}',
    replicationKeyArn: keyArn(t.dr.account_id, t.dr.region, c.names.replication_key_alias),
    regionalSnapshotKeyArn: keyArn(t.primary.account_id, t.dr.region, t.snapshots.regional_kms_key),
  };
}

/** Every template of `c`'s app built with `context`, without asset staging or cdk-nag. */
export function renderTemplates(c: Contract, context: Record<string, string>): Map<Stack, Resources> {
  const app = new App({ context: { ...cdkJsonContext(), ...context }, outdir: fs.mkdtempSync('/tmp/iot-dr-sandbox-iam-') });
  const { stacks } = addStacks(app, c, readSettings(app.node));
  const templates = new Map<Stack, Resources>();
  for (const stack of stacks) {
    const resources: Resources = {};
    for (const child of stack.node.findAll()) {
      if (!CfnResource.isCfnResource(child) || Stack.of(child) !== stack) continue;
      const rendered = stack.resolve((child as any)._toCloudFormation()) as { Resources: Resources };
      Object.assign(resources, rendered.Resources);
    }
    templates.set(stack, resources);
  }
  return templates;
}

/** The named roles of each template, with their policies, intrinsics resolved. */
export function exportRoles(c: Contract, templates: Iterable<[{ account: string; region: string }, Resources]>, operatorPrincipal?: string): WorldExport {
  const roles: RoleExport[] = [];
  for (const [env, resources] of templates) {
    const resolve = resolver(env.account, env.region, resources);
    const attached = (roleId: string, type: string) =>
      Object.values(resources)
        .filter((r) => r.Type === type && (r.Properties?.Roles ?? []).some((ref: any) => ref?.Ref === roleId))
        .map((r) => resolve(r.Properties!.PolicyDocument));
    for (const [id, r] of Object.entries(resources)) {
      if (r.Type !== 'AWS::IAM::Role') continue;
      const p = r.Properties ?? {};
      if (typeof p.RoleName !== 'string') continue; // roles of AWS services (custom-resource providers, topic-rule errors)
      if ((p.ManagedPolicyArns ?? []).length > 0) throw new Error(`role ${p.RoleName} has AWS-managed policies the sandbox cannot read`);
      const arn = `arn:aws:iam::${env.account}:role${p.Path ?? '/'}${p.RoleName}`;
      roles.push({
        arn,
        ...classify(c, arn, p.RoleName),
        trust: resolve(p.AssumeRolePolicyDocument),
        policies: [
          ...(p.Policies ?? []).map((inline: any) => resolve(inline.PolicyDocument)),
          ...attached(id, 'AWS::IAM::Policy'),
          ...attached(id, 'AWS::IAM::ManagedPolicy'),
        ],
      });
    }
  }
  roles.sort((a, b) => a.arn.localeCompare(b.arn));
  return { roles, operatorPrincipal };
}

function classify(c: Contract, arn: string, name: string): Pick<RoleExport, 'kind' | 'function'> {
  for (const f of c.functions) {
    if (name === f.execution_role_name) return { kind: 'execution', function: f.name };
    if (f.side_roles.some((r) => r.name === name)) return { kind: 'side', function: f.name };
  }
  if (arn === c.topology.primary.role_arn || arn === c.topology.dr.role_arn) return { kind: 'operator' };
  throw new Error(`role ${arn} is neither a function's nor the operators': the sandbox would not know who assumes it`);
}

/** Resolve CloudFormation intrinsics to strings, by the resources they name. */
function resolver(account: string, region: string, resources: Resources): (value: unknown) => any {
  const aliasOf = (keyId: string): string => {
    const alias = Object.values(resources).find(
      (r) => r.Type === 'AWS::KMS::Alias' && JSON.stringify(r.Properties?.TargetKeyId).includes(`"${keyId}"`),
    );
    if (!alias) throw new Error(`key ${keyId} has no alias: the sandbox finds keys by alias`);
    return alias.Properties!.AliasName;
  };
  const arnOf = (id: string): string => {
    const r = resources[id];
    if (!r) throw new Error(`no resource ${id} in the template`);
    const p = r.Properties ?? {};
    switch (r.Type) {
      case 'AWS::KMS::Key':
        return `arn:aws:kms:${region}:${account}:key/{{kms-key-id:${aliasOf(id)}}}`;
      case 'AWS::SQS::Queue':
        return `arn:aws:sqs:${region}:${account}:${p.QueueName}`;
      case 'AWS::SNS::Topic':
        return `arn:aws:sns:${region}:${account}:${p.TopicName}`;
      case 'AWS::DynamoDB::Table':
        return `arn:aws:dynamodb:${region}:${account}:table/${p.TableName}`;
      case 'AWS::Logs::LogGroup':
        return `arn:aws:logs:${region}:${account}:log-group:${p.LogGroupName}:*`;
      case 'AWS::IAM::Role':
        return `arn:aws:iam::${account}:role${p.Path ?? '/'}${p.RoleName}`;
      case 'AWS::Lambda::Function':
        return `arn:aws:lambda:${region}:${account}:function:${p.FunctionName}`;
      default:
        throw new Error(`cannot name ${id} (${r.Type}) for the sandbox`);
    }
  };
  const resolve = (value: any): any => {
    if (Array.isArray(value)) return value.map(resolve);
    if (value === null || typeof value !== 'object') return value;
    const keys = Object.keys(value);
    if (keys.length === 1 && keys[0] === 'Ref') {
      switch (value.Ref) {
        case 'AWS::Partition':
          return 'aws';
        case 'AWS::Region':
          return region;
        case 'AWS::AccountId':
          return account;
        case 'AWS::URLSuffix':
          return 'amazonaws.com';
        default: {
          const r = resources[value.Ref];
          if (r?.Type === 'AWS::Route53::HostedZone') return '{{hosted-zone-id}}';
          if (r?.Type === 'AWS::SNS::Topic') return arnOf(value.Ref);
          if (r?.Type === 'AWS::IAM::Role') return r.Properties?.RoleName;
          throw new Error(`cannot resolve Ref ${value.Ref} (${r?.Type}) for the sandbox`);
        }
      }
    }
    if (keys.length === 1 && keys[0] === 'Fn::GetAtt') {
      const [id, attribute] = value['Fn::GetAtt'];
      if (attribute !== 'Arn') throw new Error(`cannot resolve ${id}.${attribute} for the sandbox`);
      return arnOf(id);
    }
    if (keys.length === 1 && keys[0] === 'Fn::Join') {
      const [separator, parts] = value['Fn::Join'];
      return (parts as unknown[]).map(resolve).join(separator);
    }
    if (keys.some((k) => k.startsWith('Fn::'))) throw new Error(`cannot resolve ${JSON.stringify(value)} for the sandbox`);
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolve(v)]));
  };
  return resolve;
}

/** The whole export for a deployment contract and the operators' principal. */
export function exportWorld(c: Contract, operatorPrincipal: string): WorldExport {
  const templates = renderTemplates(c, sandboxContext(c, operatorPrincipal));
  const envs: Array<[{ account: string; region: string }, Resources]> = [...templates].map(([stack, resources]) => [
    { account: stack.account, region: stack.region },
    resources,
  ]);
  return exportRoles(c, envs, operatorPrincipal);
}
