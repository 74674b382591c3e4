// Builds the whole app: the three stacks from one deployment contract (the topology as
// `drctl config export --json` resolves it), with cdk-nag's AWS Solutions checks on every
// stack. Shared by bin/app.ts (synth), lib/sandbox-iam.ts and the tests.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { App, type Stack, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { type Contract, EXPORT_HINT, loadContract } from './config';
import { DrStack } from './dr-stack';
import * as names from './names';
import { applySuppressions } from './nag';
import { PrimarySnapshotKeyStack } from './primary-snapshot-key-stack';
import { PrimaryStack } from './primary-stack';
import { INFRA_DIR, readSettings, type Settings } from './settings';

export interface IotDrApp {
  readonly app: App;
  readonly contract: Contract;
  readonly settings: Settings;
  readonly primary: PrimaryStack;
  readonly primarySnapshotKey: PrimarySnapshotKeyStack;
  readonly dr: DrStack;
  readonly stacks: Stack[];
}

/** cdk.json's context (feature flags and defaults): the CDK CLI passes it, `node` does not. */
export function cdkJsonContext(): Record<string, unknown> {
  const file = path.join(INFRA_DIR, 'cdk.json');
  return (JSON.parse(fs.readFileSync(file, 'utf8')) as { context?: Record<string, unknown> }).context ?? {};
}

/** `-c key=value` / `--context key=value` pairs, as the CDK CLI takes them. */
export function contextFromArgs(argv: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    if ((argv[i] === '-c' || argv[i] === '--context') && i + 1 < argv.length) {
      const [key, ...rest] = argv[++i].split('=');
      out[key] = rest.join('=');
    }
  }
  return out;
}

/** The contract named by the settings (context `contract`, or `DRCTL_CONTRACT`). */
export function contractOf(settings: Settings): Contract {
  if (settings.contractPath === undefined) {
    throw new Error(`no deployment contract: pass -c contract=<file> (or set DRCTL_CONTRACT); ${EXPORT_HINT} (make synth does both)`);
  }
  return loadContract(settings.contractPath);
}

/** The three stacks of `contract` in `app`. */
export function addStacks(app: App, contract: Contract, settings: Settings): Pick<IotDrApp, 'primary' | 'primarySnapshotKey' | 'dr' | 'stacks'> {
  const props = { contract, settings };
  const primary = new PrimaryStack(app, names.STACKS.primary, props);
  const primarySnapshotKey = new PrimarySnapshotKeyStack(app, names.STACKS.primarySnapshotKey, props);
  const dr = new DrStack(app, names.STACKS.dr, props);
  return { primary, primarySnapshotKey, dr, stacks: [primary, primarySnapshotKey, dr] };
}

/** The app of the settings' contract, or of `contract` when given (the sandbox's IAM export). */
export function buildApp(context: Record<string, unknown> = {}, outdir?: string, contract?: Contract): IotDrApp {
  // Under the CDK CLI, CDK_CONTEXT_JSON (cdk.json plus -c) overrides these defaults.
  const app = new App({ context: { ...cdkJsonContext(), ...context }, outdir });
  const settings = readSettings(app.node);
  const c = contract ?? contractOf(settings);
  const built = addStacks(app, c, settings);
  for (const stack of built.stacks) applySuppressions(stack);
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
  return { app, contract: c, settings, ...built };
}
