/**
 * Starting netsessiond inside a sandbox's device namespace, on the sandbox's private bus.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BUS_NAME } from '../../../lib/protocol.js';
import type { SandboxProcess } from './exec.js';
import type { RunAs, Sandbox } from './sandbox.js';

/** Repository root (three levels above this file). */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** The daemon as it ships (`bin.netsessiond`), built by the integration project's global setup. */
export const DAEMON_BUNDLE = `${REPO_ROOT}dist/netsessiond.cjs`;

/**
 * The Node options of the bundle's `#!/usr/bin/env -S node …` line: what the installed
 * `netsessiond` (the unit's ExecStart) runs with.
 */
export function shebangNodeFlags(file = DAEMON_BUNDLE): string[] {
  const first = readFileSync(file, 'utf8').split('\n', 1)[0] ?? '';
  const m = /^#!\/usr\/bin\/env -S node(.*)$/.exec(first);
  if (!m) throw new Error(`${file}: no '#!/usr/bin/env -S node' line`);
  return m[1]!
    .trim()
    .split(/\s+/)
    .filter((x) => x !== '');
}

/** argv that runs the shipped daemon bundle with its shebang's Node options (plus `nodeArgs`, e.g. diagnostics). */
export function daemonCommand(args: readonly string[] = [], nodeArgs: readonly string[] = []): string[] {
  return [process.execPath, ...shebangNodeFlags(), ...nodeArgs, DAEMON_BUNDLE, ...args];
}

/** Options for {@link startNetsessiond}. */
export interface DaemonOptions {
  /** A TypeScript entry to run with tsx instead of the shipped bundle ({@link DAEMON_BUNDLE}). */
  entry?: string;
  /** Node options after the shebang's (e.g. `--heapsnapshot-signal=SIGUSR2`). */
  nodeArgs?: string[];
  /** Arguments after the entry. */
  args?: string[];
  /** Replaces the whole command (e.g. a built `dist/` daemon or a stand-in). */
  command?: string[];
  /** Extra environment; `DBUS_SYSTEM_BUS_ADDRESS` is already the private bus. */
  env?: Record<string, string>;
  user?: RunAs;
  /** Bus name whose appearance means "ready" (default `net.connman`). */
  busName?: string;
  /** Default 20 s. */
  readyTimeoutMs?: number;
  /**
   * Run the daemon in its own mount namespace (`unshare --mount`) with cgroup2 mounted at
   * /sys/fs/cgroup. `ip netns exec` gives the process a fresh /sys without cgroup mounts, and nft
   * resolves `socket cgroupv2` paths only under /sys/fs/cgroup, so cgroup policies need this.
   * The mount stays inside that namespace. Needs root (not combinable with a non-root `user`).
   * Default false: the command is started as given.
   */
  mountCgroup2?: boolean;
  /** Argv put before the daemon's command (e.g. a sandbox: `unshare … sh -c '…; exec "$@"' x`); it must exec the rest in place. */
  wrap?: string[];
}

/** Wraps argv so it runs in a private mount namespace with cgroup2 on /sys/fs/cgroup. */
export function withCgroup2Mount(argv: readonly string[]): string[] {
  // sh and unshare exec in place, so the tracked pid stays the daemon's pid.
  return [
    'unshare',
    '--mount',
    '--propagation',
    'private',
    'sh',
    '-c',
    'mount -t cgroup2 none /sys/fs/cgroup && exec "$@"',
    'netsessiond',
    ...argv,
  ];
}

let peerSockets = 0;
/** The daemon's entry as tests and benches run it: the bundle, the sources, or a compiled build. */
const DAEMON_ENTRY = /(?:^|\/)(?:netsessiond\.cjs|daemon\/main\.[jt]s)$/;

/**
 * A private socket of the sandbox's own for a daemon whose arguments name none: daemons of
 * tests that run at once must not race for the default path. Stand-ins (a command that is not
 * the daemon) get nothing added.
 */
function withPeerSocket(argv: string[], sb: Sandbox): string[] {
  if (argv.includes('--peer-socket') || !argv.some((a) => DAEMON_ENTRY.test(a))) return argv;
  return [...argv, '--peer-socket', join(sb.tmpDir, `private-${++peerSockets}`)];
}

/**
 * Starts the daemon in `sb.devNs` as a tracked process (killed by `sb.destroy()`) and resolves
 * once it owns its bus name. Rejects with the daemon's stderr if it exits or times out first.
 */
export async function startNetsessiond(sb: Sandbox, opts: DaemonOptions = {}): Promise<SandboxProcess> {
  if (!sb.dbusAddress) throw new Error('startNetsessiond needs a sandbox with a private bus');
  // The bundle with its shebang's Node options, as the unit runs it.
  const base =
    opts.command ??
    (opts.entry
      ? [
          process.execPath,
          ...shebangNodeFlags(`${REPO_ROOT}daemon/main.ts`),
          '--import',
          'tsx',
          opts.entry,
          ...(opts.args ?? []),
        ]
      : daemonCommand(opts.args ?? [], opts.nodeArgs ?? []));
  if (opts.mountCgroup2 && opts.user)
    throw new Error('startNetsessiond: mountCgroup2 needs root; it cannot be combined with user');
  const wrapped = [...(opts.wrap ?? []), ...base];
  const command = opts.mountCgroup2 ? withCgroup2Mount(wrapped) : wrapped;
  const proc = sb.spawn(sb.devNs, withPeerSocket(command, sb), {
    env: opts.env ?? {},
    cwd: REPO_ROOT,
    ...(opts.user ? { user: opts.user } : {}),
  });
  const name = opts.busName ?? BUS_NAME;
  let exitedFirst = false;
  const exitedEarly = proc.exited.then((exit) => {
    exitedFirst = true;
    throw new Error(
      `${command.join(' ')} exited (${JSON.stringify(exit)}) before owning ${name}; stderr:\n${proc.stderr.slice(-4000)}`,
    );
  });
  try {
    // race() subscribes to exitedEarly, so its later rejection (a normal exit) is never unhandled.
    await Promise.race([sb.waitForBusName(name, opts.readyTimeoutMs ?? 20_000), exitedEarly]);
  } catch (err) {
    await proc.kill('SIGKILL', 0);
    if (exitedFirst || !(err instanceof Error)) throw err;
    throw new Error(`${err.message}; daemon stderr:\n${proc.stderr.slice(-4000)}`);
  }
  return proc;
}
