/**
 * No per-session structure outlives its session: a census of the daemon's live JS heap (heap
 * snapshots, which collect garbage first) after 500 create/destroy cycles and again after 10,000
 * more finds no constructor, closure or native type whose count grew with the cycles, and the
 * live heap within a small margin. And what a burst took (garbage, node's own code pages) is
 * given back within seconds of its end.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { residentOf } from '../../daemon/adapters/system/memory-return.js';
import { createSandbox, requireRoot, type Sandbox, type SandboxProcess } from './harness/sandbox.js';
import { startTestDaemon } from './harness/test-daemon.js';
import { ConnmanClient } from './support/connman-client.js';
import { censusGrowth, heapCensus } from './support/heap-census.js';

const supported = requireRoot();
const CYCLES = 10_000;

let sb: Sandbox;
let daemon: SandboxProcess;
let client: ConnmanClient;
let diagDir: string;

/** `n` create → first Update → destroy cycles, 32 in flight. */
async function cycles(n: number, tag: string): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const { path, n: notifier } = await client.createSession({}, `/mem/${tag}/c${next++}`);
      await notifier.waitCount(1, 30_000);
      await client.session(path).destroy();
    }
  };
  await Promise.all(Array.from({ length: 32 }, worker));
}

describe.skipIf(!supported)('session memory', () => {
  beforeAll(async () => {
    sb = await createSandbox();
    diagDir = join(sb.tmpDir, 'diag');
    mkdirSync(diagDir, { recursive: true });
    ({ daemon } = await startTestDaemon(sb, {
      nodeArgs: ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${diagDir}`],
      general: ['OnlineCheckMode = none', `MaxSessionsPerClient = ${2 * CYCLES}`, `MaxSessionsPerUid = ${2 * CYCLES}`],
    }));
    client = await ConnmanClient.connect(sb.dbusAddress!);
  }, 120_000);

  afterAll(async () => {
    client?.disconnect();
    await sb?.destroy();
  });

  it('gives back the memory a burst took, node’s own code pages among it, within seconds of its end', async () => {
    // Past the return 1 s after start-up (the next is at 10 s): what follows is the burst's own.
    await new Promise((r) => setTimeout(r, 2500));
    const before = residentOf(daemon.pid);
    await cycles(500, 'burst');
    const atEnd = residentOf(daemon.pid);
    await new Promise((r) => setTimeout(r, 3000));
    const after = residentOf(daemon.pid);
    console.log(
      `[session-memory] before a burst ${JSON.stringify(before)} B, at its end ${JSON.stringify(atEnd)} B, 3 s later ${JSON.stringify(after)} B`,
    );
    // Idle, the node binary alone has ~35 MB resident once start-up faulted it in; the page drop
    // takes what the burst used back to a few MB.
    expect(after.file).toBeLessThan(atEnd.file - 4 * 1024 * 1024);
    expect(after.file + after.anon).toBeLessThan(atEnd.file + atEnd.anon);
  }, 120_000);

  it(`leaves no per-session structure behind after ${CYCLES} create/destroy cycles`, async () => {
    await cycles(500, 'warm');
    const a = await heapCensus(daemon.pid, diagDir);
    await cycles(CYCLES, 'run1');
    const b = await heapCensus(daemon.pid, diagDir);
    await cycles(CYCLES, 'run2');
    const c = await heapCensus(daemon.pid, diagDir);
    // Anything left per session grows by ~CYCLES in each run; 1/10 of that catches one in ten.
    // JIT code and bounded tables (the FIFO of released session tags) grow in the first run only.
    const first = censusGrowth(a, b, CYCLES / 10);
    const second = censusGrowth(b, c, CYCLES / 10);
    const kB = (n: number) => (n / 1024).toFixed(0);
    console.log(
      `[session-memory] live heap ${kB(a.totalBytes)} kB after 500 cycles, ${kB(b.totalBytes)} kB after ${CYCLES} more, ${kB(c.totalBytes)} kB after another ${CYCLES}; ` +
        `grown by ≥${CYCLES / 10} in the first run: ${JSON.stringify(first.slice(0, 5))}, in the second: ${JSON.stringify(second.slice(0, 5))}; ` +
        `most bytes added in the second: ${JSON.stringify(
          censusGrowth(b, c, 1)
            .sort((x, y) => y.bytes - x.bytes)
            .slice(0, 6),
        )}`,
    );
    expect(second).toEqual([]);
    // JIT code comes and goes with optimisation; the data must not grow.
    const data = (x: typeof a) => x.totalBytes - (x.byName.get('code')?.bytes ?? 0);
    expect(data(c) - data(b)).toBeLessThan(256 * 1024);
  }, 600_000);
});
