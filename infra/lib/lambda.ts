// The Rust Lambdas as CDK functions: code from `scripts/build-lambdas.sh`'s zips, the
// topology from a layer, and an execution role that may do nothing but write its logs and
// assume the function's own role on each side it calls.
//
// How a function gets its config and credentials (crates/aws/src/runtime.rs, session.rs):
// `DRCTL_CONFIG` names a TOML file — the deployed topology, written by the Rust code into
// the contract (`lambda_config`), in the config layer at /opt/config.toml — and
// `DRCTL__PRIMARY__ROLE_ARN` / `DRCTL__DR__ROLE_ARN` (the contract's `role_overrides`)
// override the roles in it, so each function assumes its own least-privilege role on each
// side instead of the operators' `dr-control-plane` roles. The session assumes a side's role
// on first use only: a function that never calls a side never assumes its role.

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { Contract } from './config';
import * as names from './names';
import { INFRA_DIR, type Settings } from './settings';

/** Where the config layer puts the topology; what `DRCTL_CONFIG` says. */
export const CONFIG_PATH_IN_LAMBDA = '/opt/config.toml';

/** A stand-in `bootstrap` for synth and tests without a release build (see its header). */
export const PLACEHOLDER_DIR = path.join(INFRA_DIR, 'placeholder-lambda');

/** The zip `scripts/build-lambdas.sh` builds for `fn`, or the placeholder when allowed. */
export function lambdaCode(settings: Settings, fn: names.FunctionName): { code: lambda.Code; placeholder: boolean } {
  const zip = path.join(settings.lambdaAssetsDir, fn, 'bootstrap.zip');
  if (fs.existsSync(zip)) return { code: lambda.Code.fromAsset(zip), placeholder: false };
  if (settings.allowPlaceholderAssets) return { code: lambda.Code.fromAsset(PLACEHOLDER_DIR), placeholder: true };
  throw new Error(
    `no Lambda zip for ${fn} at ${zip}: run scripts/build-lambdas.sh ${settings.architecture} first ` +
      '(or pass -c allowPlaceholderAssets=true for a synth that will never be deployed)',
  );
}

/**
 * The deployed topology as a layer: the contract's config file (the resolved topology as
 * TOML, without `[sandbox]`). Staged in a directory named by its content hash, so the asset
 * (and the functions) change exactly when the config does.
 */
export function configLayer(scope: Construct, c: Contract, architecture: lambda.Architecture): lambda.LayerVersion {
  const topology = c.topology;
  const text = c.lambda_config.toml;
  const hash = crypto.createHash('sha256').update(text).digest('hex').slice(0, 16);
  const dir = path.join(os.tmpdir(), `iot-dr-config-layer-${hash}`);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'config.toml'), text);
  return new lambda.LayerVersion(scope, 'ConfigLayer', {
    code: lambda.Code.fromAsset(dir),
    compatibleRuntimes: [lambda.Runtime.PROVIDED_AL2023],
    compatibleArchitectures: [architecture],
    description: `IoT DR topology for ${topology.primary.account_id}/${topology.primary.region} -> ${topology.dr.account_id}/${topology.dr.region} at ${CONFIG_PATH_IN_LAMBDA}`,
    removalPolicy: RemovalPolicy.RETAIN,
  });
}

export interface RustFunctionProps {
  readonly fn: names.FunctionName;
  readonly contract: Contract;
  readonly settings: Settings;
  readonly layer: lambda.ILayerVersion;
  readonly timeout: Duration;
  readonly memorySize?: number;
  readonly reservedConcurrentExecutions?: number;
  /** Asynchronous invocations: retries and event age (scheduled and event-driven functions). */
  readonly retryAttempts?: number;
  readonly maxEventAge?: Duration;
  readonly onFailure?: lambda.IDestination;
}

/** One Rust Lambda with its execution role and log group. */
export class RustFunction extends Construct {
  readonly function: lambda.Function;
  readonly executionRole: iam.Role;
  readonly placeholder: boolean;

  constructor(scope: Construct, id: string, props: RustFunctionProps) {
    super(scope, id);
    const { fn, contract: c, settings } = props;
    const logGroup = new logs.LogGroup(this, 'Logs', {
      logGroupName: `/aws/lambda/${names.fn(c, fn).function_name}`,
      retention: logs.RetentionDays.THREE_MONTHS,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.executionRole = new iam.Role(this, 'ExecutionRole', {
      roleName: names.fn(c, fn).execution_role_name,
      description: `Execution role of ${names.fn(c, fn).function_name}: logs, and AssumeRole into its own role on each side it calls`,
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
    });
    // Instead of AWSLambdaBasicExecutionRole (which may create and write any log group).
    this.executionRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'WriteOwnLogs',
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [`${logGroup.logGroupArn}:log-stream:*`],
      }),
    );
    const assumable = names.fn(c, fn).side_roles.map((role) => role.arn);
    this.executionRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'AssumeOwnSideRoles',
        actions: ['sts:AssumeRole'],
        resources: assumable,
      }),
    );

    const { code, placeholder } = lambdaCode(settings, fn);
    this.placeholder = placeholder;
    const architecture = settings.architecture === 'arm64' ? lambda.Architecture.ARM_64 : lambda.Architecture.X86_64;


    this.function = new lambda.Function(this, 'Function', {
      functionName: names.fn(c, fn).function_name,
      description: `IoT DR ${fn} (Rust, lambdas/${fn})${placeholder ? ' — PLACEHOLDER CODE, build the zips before deploying' : ''}`,
      runtime: lambda.Runtime.PROVIDED_AL2023,
      handler: 'bootstrap',
      architecture,
      code,
      layers: [props.layer],
      role: this.executionRole,
      logGroup,
      timeout: props.timeout,
      memorySize: props.memorySize ?? 256,
      reservedConcurrentExecutions: props.reservedConcurrentExecutions,
      retryAttempts: props.retryAttempts,
      maxEventAge: props.maxEventAge,
      onFailure: props.onFailure,
      // Its own role on each side it calls; on a side it never calls, the config's role
      // (assumed lazily: never). As the sandbox runs it (crates/sandbox/src/identity.rs).
      environment: {
        [c.lambda_config.variable]: CONFIG_PATH_IN_LAMBDA,
        ...names.fn(c, fn).role_overrides,
        RUST_LOG: 'info',
      },
    });
  }
}
