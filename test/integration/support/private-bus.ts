/**
 * A private dbus-daemon for tests that need a bus but no network namespace. The config comes
 * from the harness (test/integration/harness/dbus.ts); this only runs it, in a temp dir that
 * other uids can enter (clients running as `nobody` must reach the socket).
 */
import { execFileSync, spawn } from 'node:child_process';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type DbusOptions, prepareDbus } from '../harness/dbus.js';

/** A running private bus. */
export interface PrivateBus {
  /** `unix:path=...` */
  address: string;
  dir: string;
  pid: number;
  /** Stops the bus (SIGTERM, then SIGKILL) and removes its directory. Idempotent. */
  stop(): Promise<void>;
}

const START_TIMEOUT_MS = 10_000;

/** Starts a dbus-daemon and resolves once it accepts connections. */
export async function startPrivateBus(opts: DbusOptions = {}): Promise<PrivateBus> {
  const dir = await mkdtemp(join(tmpdir(), 'nsd-bus-'));
  await chmod(dir, 0o755);
  const setup = await prepareDbus(dir, opts);
  const [cmd, ...args] = setup.argv;
  const child = spawn(cmd!, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`dbus-daemon did not start within ${START_TIMEOUT_MS} ms: ${stderr}`)),
        START_TIMEOUT_MS,
      );
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        // --print-address prints once the socket listens.
        if (out.includes('\n')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`dbus-daemon exited with ${code}: ${stderr}`));
      });
    });
  } catch (err) {
    if (child.exitCode === null) child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
    throw err;
  }

  let stopped = false;
  return {
    address: setup.address,
    dir,
    pid: child.pid!,
    async stop() {
      if (stopped) return;
      stopped = true;
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
        await exited;
        clearTimeout(timer);
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Why a private bus cannot run here, or null. */
export function privateBusSkipReason(): string | null {
  if (process.platform !== 'linux') return `needs Linux (this is ${process.platform})`;
  try {
    execFileSync('sh', ['-c', 'command -v dbus-daemon'], { stdio: 'ignore' });
  } catch {
    return 'dbus-daemon is not installed (apt-get install -y dbus)';
  }
  return null;
}
