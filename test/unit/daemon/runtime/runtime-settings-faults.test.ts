/**
 * Settings that cannot be used never stop the daemon and are never written over: the runtime
 * starts with defaults, warns once with the path and the fix, and saves nothing in that run.
 */
import { describe, expect, it } from 'vitest';
import type { BusCaller } from '../../../../daemon/api.js';
import { Engine } from '../../../../daemon/core/engine.js';
import { DEFAULT_ONLINE_CHECK_SETTINGS } from '../../../../daemon/core/online-schedule.js';
import type { BusEvents, Store } from '../../../../daemon/ports.js';
import { Runtime } from '../../../../daemon/runtime/runtime.js';
import { uplink } from '../../../fakes/links.js';

const ROOT: BusCaller = { sender: ':1.5', uid: 0, gids: [0], pid: undefined };
const events = new Proxy({}, { get: () => () => {} }) as BusEvents;

function memoryStore(read: () => Promise<string | null>, writable = true) {
  const writes: string[] = [];
  const store: Store = { read, write: async (_k, d) => void writes.push(d), writable, describe: (k) => `/state/${k}` };
  return { store, writes };
}

async function run(store: Store) {
  const logs: string[] = [];
  const rt = new Runtime({
    engine: new Engine(),
    events,
    links: { start: async () => [uplink(2, 'eth0', 'ethernet')], stop: async () => {} },
    identity: { resolve: (c: BusCaller) => ({ uid: c.uid, groups: [] }), cgroupOf: () => undefined },
    clock: { now: () => 0, setTimeout: () => ({ cancel() {} }) },
    online: {
      settings: { ...DEFAULT_ONLINE_CHECK_SETTINGS, mode: 'none' },
      probe: { probe: async () => ({ kind: 'online' }) },
      urls: { 4: 'http://x/', 6: 'http://x/' },
    },
    store,
    log: (level, msg) => logs.push(`${level} ${msg}`),
  });
  await rt.start();
  await rt.setManagerProperty(ROOT, 'OfflineMode', { signature: 'b', value: true });
  return { rt, logs };
}

describe('runtime: broken settings', () => {
  it.each([
    [
      'corrupt',
      () => Promise.resolve('{"offlineMode": tru'),
      /settings: \/state\/settings is corrupt \(settings file is not valid JSON .*\): running with default settings and without saving them; fix: repair or remove \/state\/settings, then restart the daemon/,
    ],
    [
      'unreadable',
      () => Promise.reject(Object.assign(new Error('/state/settings: EACCES'), { code: 'EACCES' })),
      /settings: \/state\/settings cannot be read \(EACCES\): running with default settings/,
    ],
  ])('%s: defaults, one warning with the path and the fix, nothing written', async (_name, read, warning) => {
    const { store, writes } = memoryStore(read);
    const { rt, logs } = await run(store);
    expect(rt.managerProperties().OfflineMode!.value).toBe(true);
    expect(logs.filter((l) => warning.test(l))).toHaveLength(1);
    expect(writes).toEqual([]);
  });

  it('a read-only store: its settings are restored, one warning, nothing written', async () => {
    const { store, writes } = memoryStore(() => Promise.resolve('{"version":1,"offlineMode":false}'), false);
    const { logs } = await run(store);
    expect(logs.filter((l) => l.includes('is not writable: settings changes will not be saved'))).toHaveLength(1);
    expect(writes).toEqual([]);
  });

  it('a usable file: changes are saved as before', async () => {
    const { store, writes } = memoryStore(() => Promise.resolve(null));
    await run(store);
    expect(writes.length).toBeGreaterThan(0);
    expect(JSON.parse(writes.at(-1)!)).toMatchObject({ offlineMode: true });
  });
});
