/**
 * The daemon as most integration tests want it: bearer overrides that make the three default
 * uplinks look like three technologies (eth-a ethernet, eth-b wifi, eth-c cellular), fast online
 * checks against the sandbox's internet host, private state and policy directories, started and
 * ready (its link dump done).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type DaemonOptions, startNetsessiond } from './daemon.js';
import type { Sandbox, SandboxProcess } from './sandbox.js';

/** The bearer each default uplink gets through `[Bearers]`. */
export const TEST_BEARERS = { 'eth-a': 'ethernet', 'eth-b': 'wifi', 'eth-c': 'cellular' } as const;

/**
 * The configuration the integration tests run the daemon with: one-shot online checks every
 * second (a test waits for `online` in about a second), `general` lines added to `[General]`,
 * and `[Bearers]` from `bearers` (default {@link TEST_BEARERS}; `null`: no section).
 */
export function testConfig(
  general: readonly string[] = [],
  bearers: Readonly<Record<string, string>> | null = TEST_BEARERS,
): string {
  return [
    '[General]',
    'OnlineCheckMode = one-shot',
    'OnlineCheckInitialInterval = 1',
    'OnlineCheckMaxInterval = 1',
    'OnlineCheckConnectTimeout = 1',
    ...general,
    ...(bearers ? ['[Bearers]', ...Object.entries(bearers).map(([ifname, bearer]) => `${ifname} = ${bearer}`)] : []),
    '',
  ].join('\n');
}

/**
 * The daemon's command-line options for a sandbox: `config`, state and policy directories under
 * the sandbox's tmp dir, and the online checks against the sandbox's internet host.
 */
export function sandboxDaemonArgs(sb: Sandbox, config: string): string[] {
  return [
    '--config',
    config,
    '--state-dir',
    join(sb.tmpDir, 'state'),
    '--policy-dir',
    join(sb.tmpDir, 'policy'),
    '--online-check-url',
    sb.inet.onlineUrl4,
    '--online-check-url6',
    sb.inet.onlineUrl6,
  ];
}

export interface TestDaemonOptions extends Omit<DaemonOptions, 'args'> {
  /** Extra `[General]` lines (e.g. `ReconcileInterval = 1`). */
  general?: string[];
  /** Extra command-line arguments (e.g. `--firewall`, `iptables`). */
  args?: string[];
  readyTimeoutMs?: number;
  /** `[Bearers]` entries (ifname = bearer); replaces {@link TEST_BEARERS} when given. */
  bearers?: Record<string, string>;
}

export interface TestDaemon {
  daemon: SandboxProcess;
  configPath: string;
  policyDir: string;
  stateDir: string;
}

export async function startTestDaemon(sb: Sandbox, opts: TestDaemonOptions = {}): Promise<TestDaemon> {
  const policyDir = join(sb.tmpDir, 'policy');
  const stateDir = join(sb.tmpDir, 'state');
  mkdirSync(policyDir, { recursive: true });
  const configPath = join(sb.tmpDir, 'netsessiond.conf');
  writeFileSync(configPath, testConfig(opts.general, opts.bearers));
  const { general: _g, bearers: _b, args = [], readyTimeoutMs = 20_000, ...rest } = opts;
  const daemon = await startNetsessiond(sb, {
    ...rest,
    args: [...sandboxDaemonArgs(sb, configPath), ...args],
  });
  await daemon.waitForLine(/ready:/, { timeoutMs: readyTimeoutMs });
  return { daemon, configPath, policyDir, stateDir };
}
