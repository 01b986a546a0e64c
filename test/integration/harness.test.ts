/**
 * Smoke test of the integration harness itself: the world is built as planned, real packets take
 * the uplink they should (seen by the internet host and by the routers' counters), every control
 * knob has its effect, and destroy leaves nothing behind.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listNamespaces, processStartTime, reapStaleSandboxes, TMP_BASE } from './harness/cleanup.js';
import { startNetsessiond } from './harness/daemon.js';
import type { RouterCounters, Sandbox, Uplink } from './harness/sandbox.js';
import { createSandbox, ONLINE_PATH, requireRoot } from './harness/sandbox.js';

const supported = requireRoot();

/** Source-address policy routing for one uplink, as the daemon will install it (test-local here). */
async function routeBySource(sb: Sandbox, u: Uplink): Promise<void> {
  const table = String(100 + u.k);
  const families: Array<[string, string | undefined, string | undefined]> = [
    ['-4', u.devAddr4, u.gw4],
    ['-6', u.devAddr6, u.gw6],
  ];
  for (const [fam, addr, gw] of families) {
    if (!addr || !gw) continue;
    await sb.run(sb.devNs, ['ip', fam, 'rule', 'del', 'from', addr, 'lookup', table], { allowFail: true });
    await sb.run(sb.devNs, ['ip', fam, 'rule', 'add', 'from', addr, 'lookup', table, 'priority', String(1000 + u.k)]);
    await sb.run(sb.devNs, ['ip', fam, 'route', 'replace', 'default', 'via', gw, 'dev', u.ifname, 'table', table]);
  }
}

async function allCounters(sb: Sandbox): Promise<Map<string, RouterCounters>> {
  const m = new Map<string, RouterCounters>();
  for (const u of sb.uplinks) m.set(u.name, await sb.routerCounters(u.name));
  return m;
}

/** Running (a zombie waiting for a reaper that may never come does not count). */
function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

describe.skipIf(!supported)('integration harness', () => {
  let sb: Sandbox;
  const url4 = (path: string): string => `http://${sb.inet.addr4}${path}`;
  const url6 = (path: string): string => `http://[${sb.inet.addr6}]${path}`;

  beforeAll(async () => {
    sb = await createSandbox();
    for (const u of sb.uplinks) await routeBySource(sb, u);
  });

  afterAll(async () => {
    await sb?.destroy();
  });

  it('builds the planned namespaces, addresses and default routes', async () => {
    expect(sb.uplinks.map((u) => u.name)).toEqual(['eth-a', 'eth-b', 'eth-c']);
    expect(new Set(sb.uplinks.map((u) => u.subnet4)).size).toBe(3);
    const present = listNamespaces();
    for (const ns of sb.namespaces) {
      expect(ns.startsWith(`${sb.id}-`)).toBe(true);
      expect(present).toContain(ns);
    }
    for (const fam of ['-4', '-6']) {
      const { stdout } = await sb.run(sb.devNs, ['ip', '-j', fam, 'route', 'show', 'default']);
      const routes = (JSON.parse(stdout) as Array<{ dev: string; metric: number }>).sort((a, b) => a.metric - b.metric);
      expect(routes.map((r) => [r.dev, r.metric])).toEqual([
        ['eth-a', 100],
        ['eth-b', 200],
        ['eth-c', 300],
      ]);
    }
  });

  it('sends each uplink’s IPv4 traffic through its own router to the internet host', async () => {
    for (const u of sb.uplinks) {
      const before = await allCounters(sb);
      const res = await sb.httpRequest(sb.devNs, url4(`/probe/${u.name}?bytes=1234`), { localAddress: u.devAddr4 });
      expect(res).toMatchObject({ ok: true, status: 200, bytes: 1234, localAddress: u.devAddr4 });

      const seen = (await sb.httpLog()).filter((e) => e.path === `/probe/${u.name}`);
      expect(seen.map((e) => e.client)).toEqual([u.devAddr4]);

      const after = await allCounters(sb);
      for (const other of sb.uplinks) {
        const b = before.get(other.name)!;
        const a = after.get(other.name)!;
        if (other === u) {
          expect(a.fwdOut).toBeGreaterThan(b.fwdOut);
          expect(a.fwdIn).toBeGreaterThan(b.fwdIn);
          expect(a.bytesIn - b.bytesIn).toBeGreaterThan(1234);
        } else {
          expect(a).toEqual(b);
        }
      }
    }
  });

  it('sends IPv6 traffic through the uplink whose address it is bound to', async () => {
    const u = sb.uplink('eth-b');
    const before = await allCounters(sb);
    const res = await sb.httpRequest(sb.devNs, url6('/probe6?bytes=99'), { localAddress: u.devAddr6 });
    expect(res).toMatchObject({
      ok: true,
      status: 200,
      bytes: 99,
      localAddress: u.devAddr6,
      remoteAddress: sb.inet.addr6,
    });
    expect((await sb.httpLog()).filter((e) => e.path === '/probe6').map((e) => e.client)).toEqual([u.devAddr6]);
    const after = await allCounters(sb);
    expect(after.get('eth-b')!.fwdOut).toBeGreaterThan(before.get('eth-b')!.fwdOut);
    expect(after.get('eth-b')!.fwdIn).toBeGreaterThan(before.get('eth-b')!.fwdIn);
    expect(after.get('eth-a')).toEqual(before.get('eth-a'));
    expect(after.get('eth-c')).toEqual(before.get('eth-c'));
  });

  it('counts uploaded bytes on the server and the router', async () => {
    const u = sb.uplink('eth-c');
    const before = await sb.routerCounters(u.name);
    const res = await sb.httpRequest(sb.devNs, url4('/upload'), { localAddress: u.devAddr4, bodyBytes: 50_000 });
    expect(res).toMatchObject({ ok: true, status: 200 });
    expect((await sb.httpLog()).filter((e) => e.path === '/upload').map((e) => [e.method, e.bytesIn])).toEqual([
      ['POST', 50_000],
    ]);
    const after = await sb.routerCounters(u.name);
    expect(after.bytesOut - before.bytesOut).toBeGreaterThan(50_000);
  });

  it('routers drop traffic leaving through them with another uplink’s source address', async () => {
    const c = sb.uplink('eth-c');
    // Without eth-c's source rule, its address leaves through the main table's eth-a default.
    await sb.run(sb.devNs, ['ip', '-4', 'rule', 'del', 'from', c.devAddr4, 'lookup', String(100 + c.k)]);
    try {
      const beforeA = await sb.routerCounters('eth-a');
      const res = await sb.httpRequest(sb.devNs, url4('/spoof'), { localAddress: c.devAddr4, timeoutMs: 1500 });
      expect(res.ok).toBe(false);
      expect((await sb.routerCounters('eth-a')).spoofed).toBeGreaterThan(beforeA.spoofed);
      expect((await sb.httpLog()).filter((e) => e.path === '/spoof')).toEqual([]);
    } finally {
      await routeBySource(sb, c);
    }
  });

  it('answers the online check per mode, globally and per uplink', async () => {
    const a = sb.uplink('eth-a');
    const b = sb.uplink('eth-b');
    const check = (u: Uplink) =>
      sb.httpRequest(sb.devNs, sb.inet.onlineUrl4, { localAddress: u.devAddr4, timeoutMs: 3000 });

    expect(await check(a)).toMatchObject({
      ok: true,
      status: 200,
      bytes: 0,
      headers: { 'x-connman-status': 'online' },
    });
    const v6 = await sb.httpRequest(sb.devNs, sb.inet.onlineUrl6, { localAddress: a.devAddr6 });
    expect(v6).toMatchObject({ ok: true, status: 200, headers: { 'x-connman-status': 'online' } });

    await sb.setOnlineMode('portal');
    const portal = await check(a);
    expect(portal).toMatchObject({ ok: true, status: 200 });
    expect(portal.ok && portal.headers['x-connman-status']).toBeUndefined();

    await sb.setOnlineMode('redirect');
    expect(await check(a)).toMatchObject({
      ok: true,
      status: 302,
      headers: { location: expect.stringMatching(/^http:\/\//) },
    });

    await sb.setOnlineMode('error');
    expect(await check(a)).toMatchObject({ ok: true, status: 500 });

    await sb.setOnlineMode('down');
    expect(await check(a)).toMatchObject({ ok: false, error: 'ECONNREFUSED' });

    await sb.setOnlineMode('online');
    expect(await check(a)).toMatchObject({ ok: true, status: 200, headers: { 'x-connman-status': 'online' } });

    await sb.setOnlineMode('portal', { uplink: 'eth-b' });
    const viaB = await check(b);
    expect(viaB).toMatchObject({ ok: true, status: 200 });
    expect(viaB.ok && viaB.headers['x-connman-status']).toBeUndefined();
    expect(await check(a)).toMatchObject({ ok: true, headers: { 'x-connman-status': 'online' } });

    await sb.setOnlineMode('down', { uplink: 'eth-b' });
    expect(await check(b)).toMatchObject({ ok: false });
    expect(await check(a)).toMatchObject({ ok: true, headers: { 'x-connman-status': 'online' } });

    await sb.setOnlineMode('online');
    expect(await check(b)).toMatchObject({ ok: true, headers: { 'x-connman-status': 'online' } });

    const modes = (await sb.httpLog()).filter((e) => e.path === ONLINE_PATH).map((e) => e.mode);
    expect(modes).toEqual([
      'online',
      'online',
      'portal',
      'redirect',
      'error',
      'online',
      'portal',
      'online',
      'online',
      'online',
    ]);
  });

  it('setCarrier takes the carrier away from the device while its link stays admin-up', async () => {
    await sb.setCarrier('eth-b', false);
    const down = await sb.linkState('eth-b');
    expect(down).toMatchObject({ adminUp: true, carrier: false });
    expect(down.operstate).not.toBe('UP');
    expect(down.flags).toContain('NO-CARRIER');

    await sb.setCarrier('eth-b', true);
    expect(await sb.linkState('eth-b')).toMatchObject({ adminUp: true, carrier: true, operstate: 'UP' });
    const b = sb.uplink('eth-b');
    expect(await sb.httpRequest(sb.devNs, url4('/after-carrier'), { localAddress: b.devAddr4 })).toMatchObject({
      ok: true,
      status: 200,
    });
  });

  it('setAdmin downs the device side and brings back its addresses and default routes', async () => {
    const c = sb.uplink('eth-c');
    await sb.setAdmin('eth-c', false);
    expect(await sb.linkState('eth-c')).toMatchObject({ adminUp: false, carrier: false });
    const gone = await sb.run(sb.devNs, ['ip', '-j', 'route', 'show', 'default', 'dev', 'eth-c']);
    expect(JSON.parse(gone.stdout)).toEqual([]);

    await sb.setAdmin('eth-c', true);
    expect(await sb.linkState('eth-c')).toMatchObject({ adminUp: true, carrier: true });
    for (const fam of ['-4', '-6']) {
      const { stdout } = await sb.run(sb.devNs, ['ip', '-j', fam, 'route', 'show', 'default', 'dev', 'eth-c']);
      expect((JSON.parse(stdout) as Array<{ metric: number }>).map((r) => r.metric)).toEqual([300]);
    }
    // The kernel also flushed the test's own per-source table for eth-c.
    await routeBySource(sb, c);
    expect(await sb.httpRequest(sb.devNs, url4('/after-admin'), { localAddress: c.devAddr4 })).toMatchObject({
      ok: true,
      status: 200,
    });
    expect(await sb.httpRequest(sb.devNs, url6('/after-admin6'), { localAddress: c.devAddr6 })).toMatchObject({
      ok: true,
      status: 200,
    });
  });

  it('dropTraffic black-holes forwarded traffic while the link stays up', async () => {
    const a = sb.uplink('eth-a');
    await sb.dropTraffic('eth-a', true);
    try {
      const before = await sb.routerCounters('eth-a');
      const res = await sb.httpRequest(sb.devNs, url4('/dropped'), { localAddress: a.devAddr4, timeoutMs: 1500 });
      expect(res).toMatchObject({ ok: false, error: 'ETIMEDOUT' });
      expect(await sb.linkState('eth-a')).toMatchObject({ adminUp: true, carrier: true, operstate: 'UP' });
      const after = await sb.routerCounters('eth-a');
      expect(after.dropped).toBeGreaterThan(before.dropped);
      expect(after.fwdOut).toBe(before.fwdOut);
    } finally {
      await sb.dropTraffic('eth-a', false);
    }
    expect(await sb.httpRequest(sb.devNs, url4('/undropped'), { localAddress: a.devAddr4 })).toMatchObject({
      ok: true,
      status: 200,
    });
    expect((await sb.httpLog()).filter((e) => e.path === '/dropped')).toEqual([]);
  });

  it('runs a private bus reachable from the device namespace, also for other uids', async () => {
    expect(sb.dbusAddress).toMatch(/^unix:path=\//);
    const getId = [
      'dbus-send',
      `--bus=${sb.dbusAddress}`,
      '--print-reply',
      '--dest=org.freedesktop.DBus',
      '/org/freedesktop/DBus',
      'org.freedesktop.DBus.GetId',
    ];
    const asRoot = await sb.run(sb.devNs, getId);
    expect(asRoot.stdout).toMatch(/string "[0-9a-f]{32}"/);
    const nobody = { uid: 65534, gid: 65534 };
    expect((await sb.run(sb.devNs, ['id', '-u'], { user: nobody })).stdout.trim()).toBe('65534');
    expect((await sb.run(sb.devNs, getId, { user: nobody })).stdout).toMatch(/string "[0-9a-f]{32}"/);
  });

  it('startNetsessiond waits until the daemon owns its bus name', async () => {
    // A stand-in daemon: owns net.connman on DBUS_SYSTEM_BUS_ADDRESS, which the harness sets.
    const standIn =
      "const b=require('dbus-next').systemBus(); b.requestName('net.connman',0).then(()=>console.log('owned'))";
    expect(await sb.busNameHasOwner('net.connman')).toBe(false);
    const daemon = await startNetsessiond(sb, { command: [process.execPath, '-e', standIn] });
    expect(await sb.busNameHasOwner('net.connman')).toBe(true);
    expect(daemon.exitStatus).toBeNull();
    await expect(
      startNetsessiond(sb, { command: ['sh', '-c', 'echo broken >&2; exit 3'], busName: 'org.example.Never' }),
    ).rejects.toThrow(/broken/);
  });

  it('destroy kills every process and removes every namespace and file', async () => {
    const tracked = sb.spawn(sb.devNs, ['sleep', '600']);
    const orphan = await sb.run(sb.devNs, ['sh', '-c', 'sleep 600 >/dev/null 2>&1 & echo $!']);
    const pids = [tracked.pid, Number(orphan.stdout.trim())];
    for (const ns of sb.namespaces) {
      const { stdout } = await sb.run(ns, ['ip', 'netns', 'identify'], { allowFail: true });
      expect(stdout.trim()).toBe(ns);
    }
    const inside = execFileSync('sh', ['-c', sb.namespaces.map((ns) => `ip netns pids ${ns}`).join('; ')], {
      encoding: 'utf8',
    });
    pids.push(...inside.split('\n').filter(Boolean).map(Number));
    // the http server, dbus-daemon, the stand-in daemon and the two sleeps
    expect(new Set(pids).size).toBeGreaterThanOrEqual(5);
    expect(pids.every(isAlive)).toBe(true);

    await sb.destroy();

    expect(listNamespaces().filter((ns) => ns.startsWith(sb.id))).toEqual([]);
    expect(pids.filter(isAlive)).toEqual([]);
    expect(existsSync(sb.tmpDir)).toBe(false);
    expect((await tracked.exited).signal).toBe('SIGTERM');
    await expect(sb.destroy()).resolves.toBeUndefined();
    expect(() => sb.spawn(sb.devNs, ['true'])).toThrow(/destroyed/);
  });
});

describe.skipIf(!supported)('stale sandbox reaping', () => {
  function fakeSandbox(
    pid: number,
    start: string | null,
    withProcess: boolean,
  ): { id: string; ns: string; sleeper?: number } {
    const id = `nsh-${pid}-${Math.floor(Math.random() * 0xffff)
      .toString(16)
      .padStart(4, '0')}`;
    const ns = `${id}-dev`;
    execFileSync('ip', ['netns', 'add', ns]);
    mkdirSync(join(TMP_BASE, id), { recursive: true });
    writeFileSync(join(TMP_BASE, id, 'owner.json'), JSON.stringify({ pid, start }));
    if (!withProcess) return { id, ns };
    const out = execFileSync('ip', ['netns', 'exec', ns, 'sh', '-c', 'sleep 600 >/dev/null 2>&1 & echo $!'], {
      encoding: 'utf8',
    });
    return { id, ns, sleeper: Number(out.trim()) };
  }

  it('removes sandboxes of dead creators, with their processes, and keeps live ones', async () => {
    const deadPid = Number(execFileSync('sh', ['-c', 'echo $$'], { encoding: 'utf8' }).trim());
    expect(isAlive(deadPid)).toBe(false);
    const dead = fakeSandbox(deadPid, '12345', true);
    const live = fakeSandbox(process.ppid, processStartTime(process.ppid), false);
    try {
      expect(isAlive(dead.sleeper!)).toBe(true);
      const reaped = await reapStaleSandboxes();
      expect(reaped).toContain(dead.id);
      expect(reaped).not.toContain(live.id);
      expect(listNamespaces()).not.toContain(dead.ns);
      expect(listNamespaces()).toContain(live.ns);
      expect(isAlive(dead.sleeper!)).toBe(false);
      expect(existsSync(join(TMP_BASE, dead.id))).toBe(false);
    } finally {
      for (const ns of [dead.ns, live.ns])
        if (listNamespaces().includes(ns)) execFileSync('ip', ['netns', 'delete', ns]);
      for (const id of [dead.id, live.id]) execFileSync('rm', ['-rf', join(TMP_BASE, id)]);
    }
  });
});
