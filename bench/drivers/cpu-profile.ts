/**
 * Reading a V8 CPU profile (`node --cpu-prof`) of the daemon: self time per function and per part
 * of the tree, inside a time window so start-up does not pass for per-call work, and printing it
 * beside a recorded before-profile.
 */
import { readFileSync } from 'node:fs';
import { REPO_ROOT } from '../../test/integration/harness/daemon.js';
import { r3 } from '../stats.js';

/** One row of a CPU profile's self time. */
export interface ProfileEntry {
  what: string;
  selfMs: number;
  share: number;
}

interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number }>;
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Now on the clock V8's profiles use (CLOCK_MONOTONIC, µs), which every process shares. */
export const monotonicUs = (): number => Number(process.hrtime.bigint() / 1000n);

/**
 * Self time per function (idle excluded), largest first; `share` is of the non-idle time. Only
 * samples inside `window` (monotonic µs) count, so start-up does not pass for per-call work.
 */
export function topEntries(
  file: string,
  n = 15,
  window: [number, number] = [0, Infinity],
): { total: number; entries: ProfileEntry[]; groups: ProfileEntry[] } {
  const prof = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(prof.nodes.map((x) => [x.id, x]));
  const self = new Map<string, number>();
  const groups = new Map<string, number>();
  let total = 0;
  let at = prof.startTime;
  for (let i = 0; i < prof.samples.length; i++) {
    at += prof.timeDeltas[i] ?? 0;
    const node = byId.get(prof.samples[i]!);
    const dt = (prof.timeDeltas[i + 1] ?? prof.timeDeltas[i] ?? 0) / 1000;
    if (at < window[0] || at > window[1]) continue;
    if (!node || node.callFrame.functionName === '(idle)') continue;
    const { functionName, url, lineNumber } = node.callFrame;
    const short = url
      .replace(/^file:\/\//, '')
      .replace(`${REPO_ROOT}`, '')
      .replace(/^.*node_modules\//, 'node_modules/');
    const key = `${functionName || '(anonymous)'}${short ? ` ${short}:${lineNumber + 1}` : ''}`;
    self.set(key, (self.get(key) ?? 0) + dt);
    const group = !url
      ? functionName
      : url.startsWith('node:')
        ? 'Node core (node:*)'
        : url.includes('node_modules/')
          ? `node_modules/${url.split('node_modules/')[1]!.split('/')[0]}`
          : short.startsWith('.bench-out/build/lib/dbus')
            ? 'lib/dbus (wire module)'
            : short.startsWith('.bench-out/build/daemon/adapters/dbus')
              ? 'daemon/adapters/dbus'
              : short.startsWith('.bench-out/build/daemon')
                ? 'daemon (other)'
                : short.startsWith('.bench-out/build/lib')
                  ? 'lib (other)'
                  : 'other';
    groups.set(group, (groups.get(group) ?? 0) + dt);
    total += dt;
  }
  const sorted = (m: Map<string, number>, k: number) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, k)
      .map(([what, ms]) => ({ what, selfMs: ms, share: total ? ms / total : 0 }));
  return { total, entries: sorted(self, n), groups: sorted(groups, 12) };
}

/**
 * Prints `profile` (over `pairs` Create+Destroy pairs) and the before-profile recorded in
 * `baseline`.
 */
export function printProfile(profile: ReturnType<typeof topEntries>, pairs: number, baseline: string): void {
  console.log(
    `\n# netsessiond CPU profile over ${pairs} sequential {} pairs (node --cpu-prof, 200 µs sampling; ${r3(profile.total)} ms busy = ${r3((1000 * profile.total) / pairs)} µs per pair, idle excluded)`,
  );
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  console.table(profile.groups.map((e) => ({ where: e.what, 'self ms': r3(e.selfMs), share: pct(e.share) })));
  console.table(profile.entries.map((e) => ({ function: e.what, 'self ms': r3(e.selfMs), share: pct(e.share) })));
  const before = JSON.parse(readFileSync(baseline, 'utf8')) as {
    note: string;
    pairs: number;
    busyMs: number;
    groups: ProfileEntry[];
    entries: ProfileEntry[];
  };
  console.log(
    `\n# for comparison, the profile before (${before.note}): ${r3(before.busyMs)} ms busy over ${before.pairs} pairs`,
  );
  console.table(before.groups.map((e) => ({ where: e.what, 'self ms': r3(e.selfMs), share: pct(e.share) })));
  console.table(before.entries.map((e) => ({ function: e.what, 'self ms': r3(e.selfMs), share: pct(e.share) })));
}
