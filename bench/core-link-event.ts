/**
 * Core micro-benchmark: time for the engine to process one link event with N live sessions.
 * Two cases: an event that moves nobody (a non-bound uplink flaps its address) and a
 * failover that moves every session (the bound uplink loses carrier, then regains it).
 * Target: under 5 ms at 10,000 sessions (a link event must not stall the D-Bus loop a user waits
 * on), growing linearly or better.
 */
import { performance } from 'node:perf_hooks';
import { Engine } from '../daemon/core/engine.js';
import type { LinkFacts } from '../daemon/core/services.js';
import type { RawValue } from '../daemon/core/settings.js';
import type { Bearer } from '../lib/protocol.js';

function link(
  ifindex: number,
  name: string,
  bearer: Bearer,
  carrier = true,
  addr = `198.51.100.${ifindex * 4 + 2}`,
): LinkFacts {
  return {
    ifindex,
    name,
    kind: 'veth',
    mac: `02:00:00:00:00:${ifindex.toString(16).padStart(2, '0')}`,
    bearer,
    adminUp: true,
    carrier,
    mtu: 1500,
    addresses: [{ family: 4, address: addr, prefixLength: 30, method: 'manual', scope: 'global' }],
    gateways: [{ family: 4, gateway: addr.replace(/\d+$/, (m) => String(Number(m) - 1)), metric: ifindex * 100 }],
    nameservers: [],
  };
}

const ROOT = { uid: 0, user: 'root', groups: [{ gid: 0, name: 'root' }] };
const VARIANTS: Array<Record<string, RawValue>> = [
  {},
  { AllowedBearers: { signature: 'as', value: ['wifi', 'ethernet'] } },
  { ConnectionType: { signature: 's', value: 'local' } },
];

function build(n: number): Engine {
  const e = new Engine({ core: { maxSessionsPerClient: n + 1, maxSessionsPerUid: n + 1 } });
  e.linkChanged(link(2, 'eth0', 'ethernet'));
  e.linkChanged(link(3, 'wlan0', 'wifi'));
  e.linkChanged(link(4, 'wwan0', 'cellular'));
  for (let i = 0; i < n; i++)
    e.createSession({ owner: ':1.1', notifier: `/s/${i}`, identity: ROOT, settings: VARIANTS[i % VARIANTS.length]! });
  return e;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function time(rounds: number, step: (i: number) => unknown): number {
  const t: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const t0 = performance.now();
    step(i);
    t.push(performance.now() - t0);
  }
  return median(t);
}

export function runCoreBench(sizes = [1_000, 5_000, 10_000, 20_000]): Array<Record<string, number | string>> {
  const rows: Array<Record<string, number | string>> = [];
  for (const n of sizes) {
    const e = build(n);
    // Warm up the JIT on both paths before measuring.
    for (let i = 0; i < 20; i++) {
      e.linkChanged(link(4, 'wwan0', 'cellular', true, i % 2 ? '198.51.100.18' : '198.51.100.50'));
      e.linkChanged(link(2, 'eth0', 'ethernet', i % 2 === 0));
    }
    e.linkChanged(link(2, 'eth0', 'ethernet', true));
    const quiet = time(50, (i) =>
      e.linkChanged(link(4, 'wwan0', 'cellular', true, i % 2 ? '198.51.100.18' : '198.51.100.50')),
    );
    let moved = 0;
    const failover = time(30, (i) => {
      const fx = e.linkChanged(link(2, 'eth0', 'ethernet', i % 2 === 1));
      moved = Math.max(moved, fx.updates.length);
    });
    // The desired kernel state is kept per change: what a failover costs is the event plus
    // bringing that state up to date; asked again with nothing changed, it is only handed back.
    const withKernel = time(10, (i) => {
      e.linkChanged(link(2, 'eth0', 'ethernet', i % 2 === 1));
      e.kernelState();
    });
    const tk = time(10, () => e.kernelState());
    rows.push({
      sessions: n,
      'quiet event ms': +quiet.toFixed(3),
      'failover ms': +failover.toFixed(3),
      'sessions moved': moved,
      'failover + kernelState ms': +withKernel.toFixed(3),
      'kernelState, nothing changed ms': +tk.toFixed(3),
    });
  }
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.table(runCoreBench());
}
