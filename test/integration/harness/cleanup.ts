/**
 * Naming, ownership and cleanup of sandboxes — including ones left behind by a crashed run.
 *
 * A sandbox id is `nsh-<creator pid>-<4 hex>`; its namespaces are `<id>-dev`, `<id>-r<k>` and
 * `<id>-inet`, and its temp dir `$TMPDIR/netsession-it/<id>` holds `owner.json` with the creator's
 * pid and process start time. A later run recognises a stale sandbox by that record (creator gone,
 * or its pid now belongs to a different process) and removes it. Names without the `nsh-` shape
 * (other users' `cm-*`, `de-*`, ...) are never touched.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCommand } from './exec.js';

/** Directory under which every sandbox keeps its temp dir. */
export const TMP_BASE = join(tmpdir(), 'netsession-it');

/** Where iproute2 keeps named namespaces. */
const NETNS_DIR = '/var/run/netns';

const ID_RE = /^nsh-(\d+)-[0-9a-f]{4}$/;
const NS_RE = /^(nsh-\d+-[0-9a-f]{4})-(?:dev|inet|r\d+)$/;

/** Something {@link installExitHandlers} can tear down synchronously while the process dies. */
export interface SyncDestroyable {
  readonly id: string;
  destroySync(): void;
}

const live = new Set<SyncDestroyable>();
let handlersInstalled = false;

/** Names of all named network namespaces on the machine. */
export function listNamespaces(): string[] {
  try {
    return readdirSync(NETNS_DIR);
  } catch {
    return [];
  }
}

/** The start time of a process (clock ticks since boot), or null if there is no such process. */
export function processStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm (field 2) may contain spaces and parentheses; fields after the last ')' are plain.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return rest[19] ?? null;
  } catch {
    return null;
  }
}

/** A fresh id (unused by any namespace or temp dir) with its temp dir created and claimed. */
export function claimSandboxId(): { id: string; tmpDir: string } {
  mkdirSync(TMP_BASE, { recursive: true, mode: 0o755 });
  const taken = new Set(listNamespaces().map((n) => NS_RE.exec(n)?.[1]));
  for (let attempt = 0; attempt < 100; attempt++) {
    const id = `nsh-${process.pid}-${randomBytes(2).toString('hex')}`;
    const tmpDir = join(TMP_BASE, id);
    if (taken.has(id) || existsSync(tmpDir)) continue;
    // World-readable: test clients running as other uids must reach the bus socket inside.
    mkdirSync(tmpDir, { mode: 0o755 });
    writeFileSync(
      join(tmpDir, 'owner.json'),
      JSON.stringify({ pid: process.pid, start: processStartTime(process.pid) }),
    );
    return { id, tmpDir };
  }
  throw new Error('could not find an unused sandbox id');
}

/** Pids of the processes living in namespace `ns` (all started by the harness or their children). */
export function namespacePidsSync(ns: string): number[] {
  try {
    return execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    /* already gone */
  }
}

/**
 * Ends every process inside `ns`: SIGTERM, then SIGKILL after `graceMs`. Only pids that
 * `ip netns pids` reports for our namespace at that moment are signalled, so a recycled pid is
 * never hit.
 */
export async function killNamespaceProcesses(ns: string, graceMs = 2000): Promise<void> {
  const deadline = Date.now() + graceMs;
  let sentTerm = false;
  for (;;) {
    const pids = namespacePidsSync(ns);
    if (pids.length === 0) return;
    if (!sentTerm) {
      for (const pid of pids) signal(pid, 'SIGTERM');
      sentTerm = true;
    } else if (Date.now() > deadline) {
      for (const pid of pids) signal(pid, 'SIGKILL');
      if (Date.now() > deadline + 3000) throw new Error(`processes ${pids.join(',')} in ${ns} survive SIGKILL`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Deletes a namespace of ours if it still exists. */
export async function deleteNamespace(ns: string): Promise<void> {
  if (!listNamespaces().includes(ns)) return;
  await runCommand(['ip', 'netns', 'delete', ns]);
}

/** Synchronous teardown for exit paths: SIGKILL whatever is inside, delete the namespaces and dir. */
export function destroyNamespacesSync(namespaces: readonly string[], tmpDir: string | null): void {
  for (const ns of namespaces) {
    for (const pid of namespacePidsSync(ns)) signal(pid, 'SIGKILL');
    try {
      if (listNamespaces().includes(ns)) execFileSync('ip', ['netns', 'delete', ns], { stdio: 'ignore' });
    } catch {
      /* best effort while dying */
    }
  }
  if (tmpDir) rmSync(tmpDir, { recursive: true, force: true });
}

function ownerAlive(id: string, pid: number): { alive: boolean; recorded: boolean } {
  let recordedStart: string | null | undefined;
  try {
    recordedStart = (JSON.parse(readFileSync(join(TMP_BASE, id, 'owner.json'), 'utf8')) as { start?: string | null })
      .start;
  } catch {
    recordedStart = undefined;
  }
  const start = processStartTime(pid);
  if (start === null) return { alive: false, recorded: recordedStart !== undefined };
  if (recordedStart === undefined || recordedStart === null) return { alive: true, recorded: false };
  return { alive: start === recordedStart, recorded: true };
}

/**
 * Removes sandboxes whose creating process is gone: their processes, namespaces and temp dirs.
 * A sandbox without an owner record is only removed when its creator is dead and nothing runs
 * in its namespaces. Returns the ids removed.
 */
export async function reapStaleSandboxes(): Promise<string[]> {
  const byId = new Map<string, string[]>();
  for (const ns of listNamespaces()) {
    const id = NS_RE.exec(ns)?.[1];
    if (id) byId.set(id, [...(byId.get(id) ?? []), ns]);
  }
  let dirs: string[] = [];
  try {
    dirs = readdirSync(TMP_BASE).filter((d) => ID_RE.test(d));
  } catch {
    /* no temp base yet */
  }
  for (const d of dirs) if (!byId.has(d)) byId.set(d, []);

  const reaped: string[] = [];
  for (const [id, namespaces] of byId) {
    const pid = Number(ID_RE.exec(id)?.[1]);
    if (pid === process.pid) continue;
    const owner = ownerAlive(id, pid);
    if (owner.alive) continue;
    if (!owner.recorded && namespaces.some((ns) => namespacePidsSync(ns).length > 0)) continue;
    for (const ns of namespaces) await killNamespaceProcesses(ns, 500);
    for (const ns of namespaces) await deleteNamespace(ns);
    rmSync(join(TMP_BASE, id), { recursive: true, force: true });
    reaped.push(id);
  }
  return reaped;
}

/** Registers a live sandbox so that exit and termination signals tear it down. */
export function trackLive(sb: SyncDestroyable): void {
  installExitHandlers();
  live.add(sb);
}

/** Forgets a sandbox after its destroy(). */
export function untrackLive(sb: SyncDestroyable): void {
  live.delete(sb);
}

function destroyAllSync(): void {
  for (const sb of [...live]) {
    try {
      sb.destroySync();
    } catch {
      /* keep going: the other sandboxes still need cleaning */
    }
    live.delete(sb);
  }
}

function installExitHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', destroyAllSync);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      destroyAllSync();
      process.off(sig, onSignal);
      // Our listener suppressed the default action; restore it unless someone else handles it.
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    };
    process.on(sig, onSignal);
  }
}
