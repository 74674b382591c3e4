// Synthesizes the app once per context for the tests: placeholder Lambda code (no release
// build needed), certificates for the custom domain, output in a temporary directory, and
// a deployment contract the Rust code exported (test/fixtures, `make contract-fixtures`; a
// dr-aws test fails when one differs from what the code exports now).

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import type { CloudAssembly } from 'aws-cdk-lib/cx-api';
import { buildApp, type IotDrApp } from '../lib/app';
import { INFRA_DIR } from '../lib/settings';

export const REPO_DIR = path.resolve(INFRA_DIR, '..');

const FIXTURES_DIR = path.join(INFRA_DIR, 'test', 'fixtures');

/** The contracts of the committed configs: config/sandbox.toml's, and test/fixtures/<name>.toml's. */
export const CONTRACTS = {
  sandbox: path.join(FIXTURES_DIR, 'contract.json'),
  /** The sandbox topology without [sandbox], with probes of primary and an Aurora cluster. */
  production: path.join(FIXTURES_DIR, 'contract-production.json'),
  /** production with flip = "dns-api". */
  dnsApi: path.join(FIXTURES_DIR, 'contract-dns-api.json'),
  /** production in one account and two regions. */
  oneAccount: path.join(FIXTURES_DIR, 'contract-one-account.json'),
} as const;

export const TEST_CONTEXT = {
  contract: CONTRACTS.sandbox,
  allowPlaceholderAssets: 'true',
  primaryCertificateArn: 'arn:aws:acm:us-east-1:111111111111:certificate/00000000-0000-0000-0000-000000000001',
  drCertificateArn: 'arn:aws:acm:us-west-2:222222222222:certificate/00000000-0000-0000-0000-000000000002',
  // What the key stacks output after their deploy (keys.ts).
  replicationKeyArn: 'arn:aws:kms:us-west-2:222222222222:key/00000000-0000-4000-8000-00000000000a',
  regionalSnapshotKeyArn: 'arn:aws:kms:us-west-2:111111111111:key/00000000-0000-4000-8000-00000000000b',
  // The existing public zone (the default looks it up: not offline).
  hostedZoneId: 'Z0000000000000000000T',
};

export interface Synthesized {
  readonly built: IotDrApp;
  readonly assembly: CloudAssembly;
  readonly outdir: string;
  readonly primary: Template;
  readonly primarySnapshotKey: Template;
  readonly dr: Template;
  /** Every template, by stack name. */
  readonly templates: Record<string, Record<string, any>>;
}

const cache = new Map<string, Synthesized>();

export function synth(context: Record<string, string> = {}): Synthesized {
  const key = JSON.stringify(context);
  const hit = cache.get(key);
  if (hit) return hit;
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'iot-dr-cdk-out-'));
  const built = buildApp({ ...TEST_CONTEXT, ...context }, outdir);
  const assembly = quietly(() => built.app.synth());
  const templates: Record<string, Record<string, any>> = {};
  for (const stack of built.stacks) templates[stack.stackName] = assembly.getStackByName(stack.stackName).template;
  const result: Synthesized = {
    built,
    assembly,
    outdir,
    primary: Template.fromJSON(templates[built.primary.stackName]),
    primarySnapshotKey: Template.fromJSON(templates[built.primarySnapshotKey.stackName]),
    dr: Template.fromJSON(templates[built.dr.stackName]),
    templates,
  };
  cache.set(key, result);
  return result;
}

/**
 * Run `f` with CDK's validation printout held back (it reports our own deploy-time notes as
 * warnings on every synth); shown only if `f` throws.
 */
export function quietly<T>(f: () => T, showOnError = true): T {
  const held: string[] = [];
  const write = process.stderr.write.bind(process.stderr);
  const saved = { error: console.error, warn: console.warn, log: console.log };
  const hold = (...args: unknown[]) => void held.push(args.map(String).join(' '));
  console.error = console.warn = console.log = hold;
  process.stderr.write = ((chunk: string | Uint8Array) => (held.push(String(chunk)), true)) as typeof process.stderr.write;
  try {
    return f();
  } catch (e) {
    if (showOnError) write(held.join('\n'));
    throw e;
  } finally {
    Object.assign(console, saved);
    process.stderr.write = write;
  }
}

/** Resources of `type` in a template, by logical id. */
export function resources(template: Record<string, any>, type: string): Array<[string, any]> {
  return Object.entries(template.Resources ?? {}).filter(([, r]: [string, any]) => r.Type === type) as Array<[string, any]>;
}

export const array = <T>(v: T | T[] | undefined): T[] => (Array.isArray(v) ? v : v === undefined ? [] : [v]);

/** Every IAM policy statement of a template: identity policies and resource policies, with where. */
export function statements(template: Record<string, any>): Array<{ where: string; kind: 'identity' | 'resource' | 'key' | 'trust'; s: any }> {
  const out: Array<{ where: string; kind: 'identity' | 'resource' | 'key' | 'trust'; s: any }> = [];
  for (const [id, r] of Object.entries<any>(template.Resources ?? {})) {
    const p = r.Properties ?? {};
    const push = (doc: any, kind: 'identity' | 'resource' | 'key' | 'trust') =>
      array(doc?.Statement).forEach((s: any) => out.push({ where: `${id} (${r.Type})`, kind, s }));
    switch (r.Type) {
      case 'AWS::IAM::Role':
        push(p.AssumeRolePolicyDocument, 'trust');
        for (const pol of array<any>(p.Policies)) push(pol.PolicyDocument, 'identity');
        break;
      case 'AWS::IAM::Policy':
      case 'AWS::IAM::ManagedPolicy':
        push(p.PolicyDocument, 'identity');
        break;
      case 'AWS::KMS::Key':
        push(p.KeyPolicy, 'key');
        break;
      case 'AWS::SNS::TopicPolicy':
      case 'AWS::SQS::QueuePolicy':
      case 'AWS::S3::BucketPolicy':
        push(p.PolicyDocument, 'resource');
        break;
      default:
        break;
    }
  }
  return out;
}
