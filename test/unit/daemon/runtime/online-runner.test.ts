/**
 * OnlineRunner.hold/release: the daemon holds its online checks over the start (probes then
 * competed with it for the CPU, READY=1 came ~30 ms later); a probe that falls due meanwhile runs
 * at release, once, and only if its check was neither stopped nor restarted while held.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_ONLINE_CHECK_SETTINGS } from '../../../../daemon/core/online-schedule.js';
import type { OnlineCheckRequest } from '../../../../daemon/ports.js';
import { OnlineRunner } from '../../../../daemon/runtime/online-runner.js';

function world() {
  const timers: Array<{ fn: () => void; cancelled: boolean }> = [];
  const probes: OnlineCheckRequest[] = [];
  const reports: string[] = [];
  const runner = new OnlineRunner({
    settings: DEFAULT_ONLINE_CHECK_SETTINGS,
    probe: {
      probe: async (request) => {
        probes.push(request);
        return { kind: 'online' };
      },
    },
    clock: {
      now: () => 0,
      setTimeout: (fn) => {
        const t = { fn, cancelled: false };
        timers.push(t);
        return { cancel: () => void (t.cancelled = true) };
      },
    },
    urls: { 4: 'http://198.51.100.1/online', 6: 'http://[2001:db8::1]/online' },
    target: (serviceId) => ({ ifname: serviceId, ifindex: 2, localAddress: '198.51.100.2' }),
    report: (serviceId, family, online) => void reports.push(`${serviceId} v${family} ${online}`),
    log: () => {},
  });
  /** Fires every timer due so far (each at most once). */
  const fire = () => {
    for (const t of timers.splice(0)) if (!t.cancelled) t.fn();
  };
  const settle = () => new Promise((r) => setImmediate(r));
  return { runner, probes, reports, fire, settle };
}

describe('OnlineRunner hold and release', () => {
  it('runs a probe that fell due while held only at release', async () => {
    const w = world();
    w.runner.hold();
    w.runner.start('eth0', 4);
    w.fire();
    await w.settle();
    expect(w.probes).toEqual([]);
    w.runner.release();
    await w.settle();
    expect(w.probes.map((p) => `${p.serviceId} v${p.family} ${p.url}`)).toEqual(['eth0 v4 http://198.51.100.1/online']);
    expect(w.reports).toEqual(['eth0 v4 true']);
  });

  it('drops a held probe whose check stopped, and runs a restarted one once', async () => {
    const w = world();
    w.runner.hold();
    w.runner.start('eth0', 4);
    w.runner.start('eth1', 6);
    w.fire();
    w.runner.stop('eth0', 4);
    w.runner.start('eth1', 6);
    w.fire();
    w.runner.release();
    await w.settle();
    expect(w.probes.map((p) => `${p.serviceId} v${p.family}`)).toEqual(['eth1 v6']);
  });

  it('probes as soon as the timer fires when not held, and after a release', async () => {
    const w = world();
    w.runner.start('eth0', 4);
    w.fire();
    await w.settle();
    expect(w.probes).toHaveLength(1);
    w.runner.hold();
    w.runner.release();
    w.runner.start('eth1', 4);
    w.fire();
    await w.settle();
    expect(w.probes.map((p) => p.serviceId)).toEqual(['eth0', 'eth1']);
  });
});
