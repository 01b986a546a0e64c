/**
 * The sd_notify sender against a real unix datagram socket in this process (abstract and path
 * addresses), and the address and watchdog arithmetic.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createServiceNotifier, notifyAddress, watchdogIntervalMs } from '../../../daemon/adapters/system/sd-notify.js';
import { NotifyListener } from '../../integration/support/notify-listener.js';

const listeners: NotifyListener[] = [];
afterEach(() => {
  for (const l of listeners.splice(0)) l.close();
});

describe('sd_notify', () => {
  it('encodes path and abstract addresses as sockaddr_un, and refuses relative or oversized ones', () => {
    const p = notifyAddress('/run/systemd/notify')!;
    expect(p.len).toBe(2 + '/run/systemd/notify'.length + 1);
    expect(p.addr.readUInt16LE(0)).toBe(1);
    expect(p.addr.subarray(2, 2 + 19).toString()).toBe('/run/systemd/notify');
    const a = notifyAddress('@x/notify')!;
    expect(a.len).toBe(2 + 1 + 'x/notify'.length);
    expect(a.addr[2]).toBe(0);
    expect(a.addr.subarray(3, 11).toString()).toBe('x/notify');
    expect(notifyAddress('run/notify')).toBeNull();
    expect(notifyAddress('@')).toBeNull();
    expect(notifyAddress(`/${'x'.repeat(200)}`)).toBeNull();
  });

  it('pings the watchdog at half WATCHDOG_USEC, only for its own pid', () => {
    expect(watchdogIntervalMs({ WATCHDOG_USEC: '3000000' }, 42)).toBe(1500);
    expect(watchdogIntervalMs({ WATCHDOG_USEC: '3000000', WATCHDOG_PID: '42' }, 42)).toBe(1500);
    expect(watchdogIntervalMs({ WATCHDOG_USEC: '3000000', WATCHDOG_PID: '41' }, 42)).toBe(0);
    expect(watchdogIntervalMs({}, 42)).toBe(0);
    expect(watchdogIntervalMs({ WATCHDOG_USEC: 'x' }, 42)).toBe(0);
  });

  it('sends STATUS=, READY=1 and WATCHDOG=1 to an abstract socket, and unsets NOTIFY_SOCKET for children', async () => {
    const address = `@netsession-test-${process.pid}-${Date.now()}`;
    const l = new NotifyListener(address);
    listeners.push(l);
    const env: NodeJS.ProcessEnv = { NOTIFY_SOCKET: address, WATCHDOG_USEC: '40000' };
    const n = await createServiceNotifier({ env, log: () => {} });
    expect(env.NOTIFY_SOCKET).toBeUndefined();
    n.status('starting');
    n.ready('3 services');
    await l.waitFor((m) => m.fields.WATCHDOG === '1', 2_000, 'a watchdog ping');
    expect(l.messages[0]!.text).toBe('STATUS=starting');
    expect(l.messages[1]!.fields).toMatchObject({ READY: '1', STATUS: '3 services', MAINPID: String(process.pid) });
    n.stopping('bye');
    const stop = await l.waitFor((m) => m.fields.STOPPING === '1', 2_000);
    expect(stop.text).toBe('STOPPING=1\nSTATUS=bye');
    await new Promise((r) => setTimeout(r, 100));
    // The pings stopped with it.
    expect(l.messages.at(-1)).toBe(stop);
  });

  it('reaches a path socket; without NOTIFY_SOCKET every call is a no-op', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sdnotify-'));
    try {
      const l = new NotifyListener(join(dir, 'notify'));
      listeners.push(l);
      const n = await createServiceNotifier({ env: { NOTIFY_SOCKET: join(dir, 'notify') }, log: () => {} });
      n.ready('ok');
      await l.waitFor((m) => m.fields.READY === '1', 2_000);
      const quiet = await createServiceNotifier({ env: {}, log: () => {} });
      quiet.ready('x');
      quiet.status('y');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('logs a bad NOTIFY_SOCKET once and carries on', async () => {
    const lines: string[] = [];
    const n = await createServiceNotifier({ env: { NOTIFY_SOCKET: 'relative' }, log: (_l, m) => lines.push(m) });
    n.ready('x');
    expect(lines).toEqual([expect.stringContaining('NOTIFY_SOCKET=relative is not an absolute path')]);
  });
});
