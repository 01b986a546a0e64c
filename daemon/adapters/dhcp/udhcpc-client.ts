/**
 * DhcpClient on busybox udhcpc: one supervised `udhcpc -f` per interface whose only side effect
 * is running udhcpc-hook.sh, which reports the lease on stdout. udhcpc itself never touches the
 * interface (all configuration lives in its script), so netsessiond keeps ownership of addresses
 * and routes. The child is restarted with backoff when it dies; stop signals only its PID.
 */

import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DhcpLeaseEvent } from '../../core/manage-plan.js';
import type { DhcpClient } from '../../ports.js';
import type { BackoffOptions } from './backoff.js';
import { DEFAULT_BACKOFF, nextFailureCount, restartDelayMs } from './backoff.js';
import { HookRecordSplitter, LeaseTracker } from './hook-records.js';

/**
 * The hook shipped next to this module. tsc does not copy it into dist/, so a built daemon
 * (dist/daemon/adapters/dhcp/) falls back to the source copy in the package
 * (daemon/adapters/dhcp/udhcpc-hook.sh, which scripts/packages.mjs ships in the netsessiond package).
 */
export const UDHCPC_HOOK = ((): string => {
  const sibling = fileURLToPath(new URL('./udhcpc-hook.sh', import.meta.url));
  const source = fileURLToPath(new URL('../../../../daemon/adapters/dhcp/udhcpc-hook.sh', import.meta.url));
  return existsSync(sibling) || !existsSync(source) ? sibling : source;
})();

/** Options for {@link UdhcpcClient}. */
export interface UdhcpcOptions {
  /** Command that runs udhcpc (default `['udhcpc']`; `['busybox', 'udhcpc']` works too). */
  command?: string[];
  hookPath?: string;
  /** Seconds between DISCOVERs (udhcpc `-T`, default 3). */
  retrySeconds?: number;
  /** Pause after a round of unanswered DISCOVERs (udhcpc `-A`, default 20). */
  failPauseSeconds?: number;
  backoff?: BackoffOptions;
  /** Grace before SIGKILL when the child ignores SIGTERM on stop (default 3000). */
  stopGraceMs?: number;
  /**
   * Directory for per-interface pid files (e.g. /run/netsessiond). With it, a udhcpc that an
   * earlier daemon left behind (the daemon was SIGKILLed) is ended before a new one starts on the
   * same interface, so two clients never hold leases there. Off when absent.
   */
  runDir?: string;
  log?: (level: 'info' | 'warn', msg: string) => void;
}

interface Instance {
  ifname: string;
  onLease: (event: DhcpLeaseEvent) => void;
  child: ChildProcess | undefined;
  tracker: LeaseTracker;
  failures: number;
  restartTimer: NodeJS.Timeout | undefined;
  stopping: boolean;
}

/** Supervised udhcpc per interface. `pidOf` exposes the current child for tests and diagnostics. */
export class UdhcpcClient implements DhcpClient {
  readonly #opts: Required<Omit<UdhcpcOptions, 'log'>> & Pick<UdhcpcOptions, 'log'>;
  readonly #instances = new Map<string, Instance>();

  constructor(opts: UdhcpcOptions = {}) {
    this.#opts = {
      command: opts.command ?? ['udhcpc'],
      hookPath: opts.hookPath ?? UDHCPC_HOOK,
      retrySeconds: opts.retrySeconds ?? 3,
      failPauseSeconds: opts.failPauseSeconds ?? 20,
      backoff: opts.backoff ?? DEFAULT_BACKOFF,
      stopGraceMs: opts.stopGraceMs ?? 3000,
      runDir: opts.runDir ?? '',
      log: opts.log,
    };
  }

  start(ifname: string, onLease: (event: DhcpLeaseEvent) => void): void {
    if (this.#instances.has(ifname)) throw new Error(`DHCP client already running on ${ifname}`);
    // An interface name is at most 15 bytes and never starts with '-': refuse anything that could
    // be read as an option by udhcpc.
    if (!/^[A-Za-z0-9_.:@][A-Za-z0-9_.:@-]{0,14}$/.test(ifname))
      throw new Error(`bad interface name ${JSON.stringify(ifname)}`);
    const inst: Instance = {
      ifname,
      onLease,
      child: undefined,
      tracker: new LeaseTracker(),
      failures: 0,
      restartTimer: undefined,
      stopping: false,
    };
    this.#instances.set(ifname, inst);
    // A leftover must be gone before ours asks: its late DHCPRELEASE would free our new lease.
    void this.#endLeftover(ifname).then(() => {
      if (!inst.stopping) this.#spawn(inst);
    });
  }

  renew(ifname: string): void {
    const child = this.#instances.get(ifname)?.child;
    if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) child.kill('SIGUSR1');
  }

  async stop(ifname: string): Promise<void> {
    const inst = this.#instances.get(ifname);
    if (!inst) return;
    inst.stopping = true;
    inst.tracker.stopping();
    if (inst.restartTimer) clearTimeout(inst.restartTimer);
    const child = inst.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      // 'close', not 'exit': by then the hook's last record (the release) has been read.
      const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
      // SIGTERM with -R: udhcpc sends DHCPRELEASE and runs the hook with deconfig first.
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), this.#opts.stopGraceMs);
      await exited;
      clearTimeout(timer);
    }
    // A lease still held was not reported released (the child died or was killed): end it anyway.
    this.#emit(inst, inst.tracker.end('release'));
    this.#instances.delete(ifname);
  }

  /** Stops every interface's client (daemon shutdown). */
  async stopAll(): Promise<void> {
    await Promise.all([...this.#instances.keys()].map((ifname) => this.stop(ifname)));
  }

  /** PID of the udhcpc currently running for `ifname`, if any. */
  pidOf(ifname: string): number | undefined {
    const child = this.#instances.get(ifname)?.child;
    return child && child.exitCode === null && child.signalCode === null ? child.pid : undefined;
  }

  #spawn(inst: Instance): void {
    const [cmd, ...pre] = this.#opts.command;
    if (cmd === undefined) throw new Error('empty udhcpc command');
    const held = inst.tracker.lease;
    const args = [
      ...pre,
      '-f', // foreground: the PID we hold is the client itself
      '-R', // release the lease on SIGTERM
      // Broadcast flag: the leased address is not on the interface while acquiring (we configure
      // it later), so ask servers not to unicast OFFER/ACK to it.
      '-B',
      '-i',
      inst.ifname,
      '-s',
      this.#opts.hookPath,
      '-T',
      String(this.#opts.retrySeconds),
      '-A',
      String(this.#opts.failPauseSeconds),
      // After a restart ask for the address we still hold, so connections survive the crash.
      ...(held ? ['-r', held.address] : []),
      ...(this.#opts.runDir ? ['-p', this.#pidFile(inst.ifname)] : []),
    ];
    const startedAt = Date.now();
    // A minimal environment: the hook copies all of it into the record.
    const child = spawn(cmd, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' },
    });
    inst.child = child;
    const tracker = new LeaseTracker(held);
    if (inst.stopping) tracker.stopping();
    inst.tracker = tracker;
    const splitter = new HookRecordSplitter();
    child.stdout?.on('data', (chunk: Buffer) => {
      for (const record of splitter.push(chunk)) this.#emit(inst, tracker.onRecord(record));
    });
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (text: string) => {
      for (const line of text.split('\n')) if (line.trim()) this.#opts.log?.('info', `${inst.ifname}: ${line.trim()}`);
    });
    child.on('error', (err) => this.#opts.log?.('warn', `${inst.ifname}: udhcpc: ${err.message}`));
    child.on('close', (code, signal) => {
      if (inst.child !== child) return;
      inst.child = undefined;
      if (inst.stopping) return;
      inst.failures = nextFailureCount(inst.failures, Date.now() - startedAt, this.#opts.backoff);
      const delay = restartDelayMs(inst.failures, this.#opts.backoff);
      this.#opts.log?.('warn', `${inst.ifname}: udhcpc exited (${signal ?? code}); restarting in ${delay} ms`);
      inst.restartTimer = setTimeout(() => {
        inst.restartTimer = undefined;
        if (!inst.stopping) this.#spawn(inst);
      }, delay);
    });
  }

  #pidFile(ifname: string): string {
    return join(this.#opts.runDir, `udhcpc-${ifname}.pid`);
  }

  /**
   * Ends a udhcpc left behind by an earlier daemon on `ifname`. Only a process whose command line
   * is ours (our hook, this interface) is signalled, so a recycled PID is never hit. SIGTERM makes
   * it release its lease; the new client asks for one again.
   */
  async #endLeftover(ifname: string): Promise<void> {
    if (!this.#opts.runDir) return;
    let pid: number;
    let argv: string[];
    try {
      pid = Number(readFileSync(this.#pidFile(ifname), 'utf8').trim());
      if (!Number.isInteger(pid) || pid <= 1) return;
      argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    } catch {
      return;
    }
    const at = argv.indexOf('-i');
    if (!argv.includes(this.#opts.hookPath) || at < 0 || argv[at + 1] !== ifname) return;
    this.#opts.log?.('warn', `${ifname}: ending udhcpc ${pid} left by an earlier daemon`);
    const signal = (sig: NodeJS.Signals | 0): boolean => {
      try {
        process.kill(pid, sig);
        return true;
      } catch {
        return false; // gone
      }
    };
    signal('SIGTERM');
    const deadline = Date.now() + this.#opts.stopGraceMs;
    while (signal(0)) {
      if (Date.now() > deadline) {
        signal('SIGKILL');
        break;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  #emit(inst: Instance, events: DhcpLeaseEvent[]): void {
    for (const e of events) {
      try {
        inst.onLease(e);
      } catch (err) {
        this.#opts.log?.(
          'warn',
          `${inst.ifname}: lease listener threw: ${err instanceof Error ? err.message : String(err)}`,
        );
      }
    }
  }
}
