/**
 * Manage-mode benchmark: how fast the main table follows the ranking when the default uplink
 * loses its carrier and gets it back. Two managed ethernet uplinks with static provisioning;
 * one `ip -ts monitor link route` in the device namespace timestamps both ends with one clock:
 *
 * - failover: the kernel's carrier-loss notification of eth-a → the RTM_NEWROUTE that gives
 *   eth-b metric 0 (the daemon demotes nothing first: it replaces eth-b's low-priority default).
 * - failback: carrier back on eth-a → eth-a's metric-0 default (its address is re-added first,
 *   since an unplugged managed link is unconfigured, as ConnMan removes the service).
 *
 * Figures, not pass/fail. Needs root and `ip netns`; otherwise prints why and returns.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createSandbox, integrationSkipReason } from '../test/integration/harness/sandbox.js';
import { startTestDaemon } from '../test/integration/harness/test-daemon.js';
import { r3, summarize } from './stats.js';

/**
 * Two provisioned ethernet uplinks: eth-a static, eth-b as `ipv4B` (a static triple or `dhcp`).
 * Shared with the carrier-back bench.
 */
export function twoEthernets(ipv4B: string): string {
  return [
    '[service_a]',
    'Type = ethernet',
    'DeviceName = eth-a',
    'IPv4 = 198.51.100.10/255.255.255.248/198.51.100.9',
    'IPv6 = off',
    '',
    '[service_b]',
    'Type = ethernet',
    'DeviceName = eth-b',
    `IPv4 = ${ipv4B}`,
    'IPv6 = off',
    '',
  ].join('\n');
}

const PROVISIONING = twoEthernets('198.51.100.19/255.255.255.248/198.51.100.17');

/** `[2026-11-21T08:09:00.123456] …` → ms since the epoch (microseconds kept). */
function stampOf(line: string): number | null {
  const m = /^\[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d{6})\]/.exec(line);
  if (!m) return null;
  return Date.parse(`${m[1]}Z`) + Number(m[2]) / 1000;
}

export async function runManageBench(opts: { rounds?: number } = {}): Promise<void> {
  const skip = integrationSkipReason();
  if (skip) {
    console.log(`# manage-mode benchmark skipped: ${skip}`);
    return;
  }
  const rounds = opts.rounds ?? 10;
  const sb = await createSandbox({
    uplinks: [
      { name: 'eth-a', v6: false },
      { name: 'eth-b', v6: false },
    ],
  });
  try {
    for (const u of ['eth-a', 'eth-b']) await sb.bareUplink(u);
    const prov = join(sb.tmpDir, 'state', 'provisioning');
    mkdirSync(prov, { recursive: true });
    writeFileSync(join(prov, 'bench.config'), PROVISIONING);
    await startTestDaemon(sb, {
      general: ['ManageInterfaces = eth-*', 'OnlineCheckMode = none'],
      bearers: { 'eth-a': 'ethernet', 'eth-b': 'ethernet' },
    });
    const metricOf = async (dev: string): Promise<number | undefined> =>
      (await sb.defaultRoutes()).find((r) => r.family === 4 && r.dev === dev)?.metric;
    const settle = async (dev: string): Promise<void> => {
      for (let i = 0; i < 200 && (await metricOf(dev)) !== 0; i++) await new Promise((r) => setTimeout(r, 50));
      if ((await metricOf(dev)) !== 0) throw new Error(`${dev} never got metric 0`);
    };
    await settle('eth-a');
    const monitor = sb.spawn(sb.devNs, ['ip', '-ts', '-4', 'monitor', 'link', 'route']);
    const failover: number[] = [];
    const failback: number[] = [];
    // A route line with metric 0 on `dev` after `since` (ip omits "metric 0").
    const defaultOn = (dev: string) => new RegExp(`^\\[[^\\]]+\\] default via \\S+ dev ${dev} proto 110\\s*$`);
    const measure = async (uplink: string, up: boolean, promoted: string): Promise<number> => {
      const mark = monitor.stdout.length;
      await sb.setCarrier(uplink, up);
      await settle(promoted);
      // The monitor's pipe may lag behind the table we just read.
      for (
        let i = 0;
        i < 100 &&
        !monitor.stdout
          .slice(mark)
          .split('\n')
          .some((l) => defaultOn(promoted).test(l));
        i++
      )
        await new Promise((r) => setTimeout(r, 20));
      const lines = monitor.stdout.slice(mark).split('\n');
      const linkLine = lines.find(
        (l) => new RegExp(`^\\[[^\\]]+\\] \\d+: ${uplink}@`).test(l) && l.includes(up ? 'LOWER_UP' : 'NO-CARRIER'),
      );
      const routeLine = lines.find((l) => defaultOn(promoted).test(l));
      const t0 = linkLine ? stampOf(linkLine) : null;
      const t1 = routeLine ? stampOf(routeLine) : null;
      if (t0 === null || t1 === null) throw new Error(`monitor missed an event:\n${lines.join('\n')}`);
      return t1 - t0;
    };
    for (let i = 0; i < rounds + 1; i++) {
      const down = await measure('eth-a', false, 'eth-b');
      const back = await measure('eth-a', true, 'eth-a');
      // The first round warms the daemon's paths up.
      if (i === 0) continue;
      failover.push(down);
      failback.push(back);
    }
    const row = (name: string, xs: number[]) => {
      const s = summarize(xs);
      return { transition: name, n: xs.length, 'median ms': r3(s?.median), 'p90 ms': r3(s?.p90), 'max ms': r3(s?.max) };
    };
    console.table([
      row('carrier lost on the default uplink → next uplink at metric 0 (kernel)', failover),
      row('carrier back → it is configured again and at metric 0 (kernel)', failback),
    ]);
  } finally {
    await sb.destroy();
  }
}
