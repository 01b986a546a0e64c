/**
 * The session capacity derived from the heap limit: past it CreateSession fails with a clear
 * SessionLimitError (D-Bus net.connman.Error.Failed) and a warning is logged once; a slot freed
 * by Destroy is usable again.
 */
import { describe, expect, it } from 'vitest';
import type { BusCaller } from '../../../../daemon/api.js';
import { Engine } from '../../../../daemon/core/engine.js';
import { SessionLimitError } from '../../../../daemon/core/errors.js';
import { DEFAULT_ONLINE_CHECK_SETTINGS } from '../../../../daemon/core/online-schedule.js';
import type { BusEvents } from '../../../../daemon/ports.js';
import { Runtime } from '../../../../daemon/runtime/runtime.js';
import { uplink } from '../../../fakes/links.js';

const ROOT: BusCaller = { sender: ':1.5', uid: 0, gids: [0], pid: undefined };

describe('runtime: session capacity', () => {
  it('refuses sessions beyond sessionCapacity with a clear error, once logged, and accepts again after a Destroy', async () => {
    const lines: string[] = [];
    const noop = () => {};
    const rt = new Runtime({
      engine: new Engine(),
      events: new Proxy({}, { get: () => noop }) as BusEvents,
      links: { start: async () => [uplink(2, 'eth0', 'ethernet')], stop: async () => {} },
      identity: { resolve: (c: BusCaller) => ({ uid: c.uid, groups: [] }), cgroupOf: () => undefined },
      clock: { now: () => 0, setTimeout: () => ({ cancel() {} }) },
      online: {
        settings: { ...DEFAULT_ONLINE_CHECK_SETTINGS, mode: 'none' },
        probe: { probe: async () => ({ kind: 'online' }) },
        urls: { 4: 'http://x/', 6: 'http://x/' },
      },
      sessionCapacity: 2,
      log: (level, msg) => lines.push(`${level}: ${msg}`),
    });
    await rt.start();
    const a = await rt.createSession(ROOT, {}, '/a');
    await rt.createSession(ROOT, {}, '/b');
    const err = await Promise.resolve()
      .then(() => rt.createSession(ROOT, {}, '/c'))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SessionLimitError);
    expect((err as Error).message).toBe(
      "session limit reached: the daemon's memory limit holds at most 2 sessions (raise --max-old-space-size in netsessiond's #! line to allow more)",
    );
    await Promise.resolve()
      .then(() => rt.createSession(ROOT, {}, '/d'))
      .catch(() => {});
    expect(lines.filter((l) => l.includes('refusing new sessions'))).toHaveLength(1);
    rt.destroySession(ROOT, a);
    expect(rt.createSession(ROOT, {}, '/e')).toMatch(/\/e$/);
  });
});
