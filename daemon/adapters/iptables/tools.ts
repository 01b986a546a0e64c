/**
 * Runs the iptables binaries: `iptables-save` and `iptables-restore --noflush` (one call per
 * family per apply, its script on stdin). NFACCT objects go over netlink instead (nfacct.ts).
 *
 * Which iptables: `iptables-legacy*` / `ip6tables-legacy*` when all four are on PATH (this
 * backend exists for kernels without nftables, where the legacy xtables interface is what works),
 * else the plain `iptables*` names (on Debian 12 those are iptables-nft, which also works, as
 * NFACCT and cgroup matches are xt extensions either way). Chosen once, when the runner is made.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { Family } from '../../core/services.js';

/** An iptables call failed; `message` is one line. */
export class IptablesError extends Error {
  constructor(
    message: string,
    /** The tool's whole stderr. */
    readonly stderr: string,
    /** Exit code, or null when killed (timeout) or not started. */
    readonly exitCode: number | null,
  ) {
    super(message);
    this.name = 'IptablesError';
  }
}

/** Runs the tools. Implemented for real below; faked in unit tests. */
export interface IptablesRunner {
  /** Which binaries run (for the log). */
  readonly description: string;
  /** `iptables-save` (or `ip6tables-save`): every table of the family. */
  save(family: Family): Promise<string>;
  /** `iptables-restore -w 10 --noflush` with `script` on stdin. */
  restore(family: Family, script: string): Promise<void>;
}

/** Options of {@link createIptablesRunner}. */
export interface IptablesRunnerOptions {
  /** `auto` (default): legacy when installed, else the plain names. */
  variant?: 'auto' | 'legacy' | 'plain';
  /** Seconds iptables-restore waits for the xtables lock (default 10). */
  lockWaitSeconds?: number;
  /** Every call is killed after this long (default 60 s). */
  timeoutMs?: number;
  /** PATH to search (default: process.env.PATH). */
  path?: string;
}

function onPath(name: string, path: string): boolean {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    try {
      accessSync(join(dir, name), constants.X_OK);
      return true;
    } catch {
      // not here
    }
  }
  return false;
}

const LEGACY = ['iptables-legacy-save', 'iptables-legacy-restore', 'ip6tables-legacy-save', 'ip6tables-legacy-restore'];

/** The binaries an `auto` runner would use on this PATH. */
export function chooseBinaries(
  variant: IptablesRunnerOptions['variant'] = 'auto',
  path = process.env.PATH ?? '',
): { legacy: boolean; save: Record<Family, string>; restore: Record<Family, string> } {
  const legacy = variant === 'legacy' || (variant === 'auto' && LEGACY.every((b) => onPath(b, path)));
  const v = legacy ? '-legacy' : '';
  return {
    legacy,
    save: { 4: `iptables${v}-save`, 6: `ip6tables${v}-save` },
    restore: { 4: `iptables${v}-restore`, 6: `ip6tables${v}-restore` },
  };
}

/**
 * One line from a failed restore: the tool's messages, plus the script line it names
 * (`line N failed` / `Error occurred at line: N`), shortened.
 */
export function summariseRestoreError(tool: string, stderr: string, exitCode: number | null, script: string): string {
  const msgs = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !/^Try `/.test(l));
  const n = /line:? (\d+)/.exec(stderr)?.[1];
  const bad = n !== undefined ? script.split('\n')[Number(n) - 1] : undefined;
  const shown = bad !== undefined ? (bad.length > 200 ? `${bad.slice(0, 200)}…` : bad) : '';
  const status = exitCode === null ? 'killed' : `exit ${exitCode}`;
  return `${tool} failed (${status})${msgs.length ? `: ${msgs.join('; ')}` : ''}${shown ? ` (in: ${shown})` : ''}`;
}

function exec(
  file: string,
  args: readonly string[],
  input: string | undefined,
  timeoutMs: number,
): Promise<{ code: number | null; stdout: string; stderr: string; spawnError?: Error }> {
  return new Promise((resolve) => {
    const child = spawn(file, args, { stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (d: Buffer) => out.push(d));
    child.stderr?.on('data', (d: Buffer) => err.push(d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    let spawnError: Error | undefined;
    child.on('error', (e) => {
      spawnError = e;
    });
    if (input !== undefined && child.stdin) {
      child.stdin.on('error', () => undefined); // the tool may exit before reading everything
      child.stdin.end(input);
    }
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({
        code,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        ...(spawnError ? { spawnError } : {}),
      });
    });
  });
}

/** The real runner. */
export function createIptablesRunner(opts: IptablesRunnerOptions = {}): IptablesRunner {
  const bins = chooseBinaries(opts.variant, opts.path);
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const wait = String(opts.lockWaitSeconds ?? 10);

  const run = async (file: string, args: readonly string[], input?: string, script?: string): Promise<string> => {
    const r = await exec(file, args, input, timeoutMs);
    if (r.spawnError) throw new IptablesError(`cannot run ${file}: ${r.spawnError.message}`, '', null);
    if (r.code === 0) return r.stdout;
    const msg =
      script !== undefined
        ? summariseRestoreError(file, r.stderr, r.code, script)
        : `${file} ${args.join(' ')} failed (${r.code === null ? 'killed' : `exit ${r.code}`}): ${r.stderr.trim().split('\n').join('; ')}`;
    throw new IptablesError(msg, r.stderr, r.code);
  };

  return {
    description: `${bins.restore[4]} and ${bins.restore[6]} (${bins.legacy ? 'legacy xtables' : 'the default iptables variant'})`,
    save: (family) => run(bins.save[family], []),
    restore: async (family, script) => {
      await run(bins.restore[family], ['-w', wait, '--noflush'], script, script);
    },
  };
}
