/**
 * The daemon's private socket (PeerSocket): the SDK's sessions skip dbus-daemon, with the real
 * daemon, the real bus beside it and real peers (this process, and a client running as nobody).
 *
 * | input                                                   | expected                                                    |
 * |---------------------------------------------------------|-------------------------------------------------------------|
 * | GetCapabilities, GetPeerAddress on the bus              | `PeerSocket`; `unix:path=<the socket>,guid=<32 hex>`; socket mode 0666 |
 * | an SDK session                                          | created on the socket (path and owner `:peer.N`), Updates arrive, gone when the SDK disconnects |
 * | an SDK client running as uid 65534, supplementary group 4242 | the kernel's uid for it (65534); a `gid = 4242` policy applies (eth-c) |
 * | AUTH EXTERNAL with another uid; the right one; fd passing | REJECTED; OK <the published GUID>; ERROR                  |
 * | garbage first byte; a 2 MiB message; no auth at all     | the connection closes; the daemon answers on the bus as before |
 * | SIGKILL and restart                                     | a new GUID on the same path; the old address is refused      |
 * | a socket in a 0700 directory, a client running as nobody | its sessions go on the bus (`_1_N`); root's on the socket    |
 * | `--peer-socket ''`                                      | no capability; the SDK's sessions stay on the bus (`_1_N`)   |
 */
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BusSocket } from '../../lib/dbus/bus-socket.js';
import { Message } from '../../lib/dbus/message.js';
import { createSession, DBusTransport } from '../../lib/index.js';
import { NETSESSION_MANAGER_INTERFACE } from '../../lib/protocol.js';
import { REPO_ROOT } from './harness/daemon.js';
import { createSandbox, requireRoot, type Sandbox } from './harness/sandbox.js';
import { startTestDaemon, type TestDaemon } from './harness/test-daemon.js';

const supported = requireRoot();

let sb: Sandbox;
let td: TestDaemon;
let dir: string;
let socketPath: string;
let bus: BusSocket;

async function managerExt(member: string): Promise<unknown> {
  const reply = await bus.call(
    new Message({ destination: 'net.connman', path: '/', interface: NETSESSION_MANAGER_INTERFACE, member }),
    5_000,
  );
  return reply.body[0];
}

async function start(args: string[]): Promise<void> {
  td = await startTestDaemon(sb, { args });
}

/** A raw connection to the socket: what it was sent back, and whether it closed. */
function raw(path = socketPath): { socket: Socket; text: () => string; closed: Promise<void> } {
  const socket = createConnection({ path });
  let got = '';
  socket.on('data', (d: Buffer) => {
    got += d.toString('latin1');
  });
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return { socket, text: () => got, closed };
}

async function until(cond: () => boolean, what: string): Promise<void> {
  const end = Date.now() + 5_000;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const hexUid = (uid: number): string => Buffer.from(String(uid)).toString('hex');

describe.skipIf(!supported)('the private socket', () => {
  beforeAll(async () => {
    sb = await createSandbox();
    // Not under the sandbox's 0700 tmp dir: a client running as nobody must reach it.
    dir = mkdtempSync('/tmp/ns-peer-');
    chmodSync(dir, 0o755);
    socketPath = join(dir, 'private');
    await start(['--peer-socket', socketPath]);
    bus = await BusSocket.connect(sb.dbusAddress!, 5_000);
  }, 60_000);

  afterAll(async () => {
    bus?.close();
    await sb?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is announced on the bus with its GUID, and anyone may connect to it', async () => {
    expect(await managerExt('GetCapabilities')).toContain('PeerSocket');
    expect(await managerExt('GetPeerAddress')).toMatch(
      new RegExp(`^unix:path=${socketPath.replace(/[/.-]/g, '\\$&')},guid=[0-9a-f]{32}$`),
    );
    expect(statSync(socketPath).isSocket()).toBe(true);
    expect(statSync(socketPath).mode & 0o777).toBe(0o666);
  });

  it('carries the SDK sessions: created there, Updates there, gone when the SDK leaves', async () => {
    const transport = new DBusTransport({ busAddress: sb.dbusAddress! });
    const s = await createSession({ transport });
    expect(s.path).toMatch(/^\/sessions\/_peer_\d+\//);
    expect(['connected', 'online']).toContain(s.state);
    const admin = new DBusTransport({ busAddress: sb.dbusAddress!, peer: false });
    const mine = (await admin.listSessions()).find((e) => e.path === s.path);
    expect(mine).toMatchObject({ uid: 0 });
    expect(mine!.owner).toMatch(/^:peer\.\d+$/);
    // A move reaches it over the same connection.
    await s.change({ allowedBearers: ['cellular'] });
    expect(s.interface).toBe('eth-c');
    await transport.close();
    // The daemon sees the connection end and drops its sessions, as for a client that leaves the bus.
    for (const end = Date.now() + 5_000; ; ) {
      if (!(await admin.listSessions()).some((e) => e.path === s.path)) break;
      if (Date.now() > end) throw new Error('the session outlived its connection');
      await new Promise((r) => setTimeout(r, 20));
    }
    await admin.close();
  });

  it('knows a peer by the kernel: a client running as nobody with group 4242 (its 101st) is uid 65534, and a gid policy matches it', async () => {
    // The supplementary group reaches the daemon only through SO_PEERGROUPS.
    writeFileSync(join(td.policyDir, 'peer.policy'), '[policy_peer]\ngid = 4242\nAllowedBearers = cellular\n');
    await td.daemon.waitForLine(/policy peer\.policy loaded/, { timeoutMs: 10_000 });
    const script = `
      import { createSession, DBusTransport } from ${JSON.stringify(join(REPO_ROOT, 'dist/lib/index.js'))};
      const transport = new DBusTransport({ busAddress: process.env.DBUS_SYSTEM_BUS_ADDRESS });
      const s = await createSession({ transport });
      console.log(s.path + ' ' + s.interface);
      setInterval(() => {}, 1 << 30);`;
    const child = sb.spawn(sb.devNs, [process.execPath, '--input-type=module', '-e', script], {
      // 4242 after 100 others: past the first buffer the daemon offers SO_PEERGROUPS.
      user: { uid: 65534, gid: 65534, groups: [...Array.from({ length: 100 }, (_, i) => 5000 + i), 4242] },
    });
    try {
      const [path, iface] = (await child.waitForLine(/^\/sessions\//, { stream: 'stdout' })).trim().split(' ');
      expect(path).toMatch(/^\/sessions\/_peer_\d+\//);
      expect(iface).toBe('eth-c');
      const admin = new DBusTransport({ busAddress: sb.dbusAddress!, peer: false });
      const entry = (await admin.listSessions()).find((e) => e.path === path);
      await admin.close();
      expect(entry).toMatchObject({ uid: 65534, policyGroup: expect.stringMatching(/peer/) });
    } finally {
      await child.kill('SIGTERM', 2_000);
      rmSync(join(td.policyDir, 'peer.policy'));
    }
  });

  it('authenticates EXTERNAL for the kernel uid only, with the published GUID, and offers no fd passing', async () => {
    const address = (await managerExt('GetPeerAddress')) as string;
    const guid = /guid=([0-9a-f]{32})/.exec(address)![1];
    const c = raw();
    c.socket.write(`\0AUTH EXTERNAL ${hexUid(4242)}\r\n`);
    await until(() => c.text().includes('\r\n'), 'an answer to a foreign uid');
    expect(c.text()).toBe('REJECTED EXTERNAL\r\n');
    c.socket.write(`AUTH EXTERNAL ${hexUid(0)}\r\nNEGOTIATE_UNIX_FD\r\n`);
    await until(() => c.text().split('\r\n').length >= 4, 'OK and the fd answer');
    expect(c.text().split('\r\n').slice(1, 3)).toEqual([`OK ${guid}`, expect.stringMatching(/^ERROR /)]);
    c.socket.destroy();
  });

  it('drops hostile peers and keeps serving: a bad first byte, a 2 MiB message, no authentication', async () => {
    const bad = raw();
    bad.socket.write('AUTH EXTERNAL 30\r\n');
    await bad.closed;

    const big = raw();
    const header = Buffer.alloc(16);
    // little endian, method call, version 1, body 2 MiB, serial 1, header fields 0 bytes.
    header.write('l', 0, 'latin1');
    header.writeUInt8(1, 1);
    header.writeUInt8(1, 3);
    header.writeUInt32LE(2 << 20, 4);
    header.writeUInt32LE(1, 8);
    big.socket.write(Buffer.concat([Buffer.from(`\0AUTH EXTERNAL ${hexUid(0)}\r\nBEGIN\r\n`, 'latin1'), header]));
    await big.closed;

    const mute = raw();
    mute.socket.write('\0');
    // Still connected now; the daemon answers everyone else meanwhile.
    await bus.call(
      new Message({ destination: 'net.connman', path: '/', interface: 'org.freedesktop.DBus.Peer', member: 'Ping' }),
      5_000,
    );
    const transport = new DBusTransport({ busAddress: sb.dbusAddress! });
    const s = await createSession({ transport });
    expect(s.path).toMatch(/_peer_/);
    await transport.close();
    mute.socket.destroy();
  });

  it('after SIGKILL and restart: the stale socket is replaced, a new GUID, the old address refused', async () => {
    const old = (await managerExt('GetPeerAddress')) as string;
    await td.daemon.kill('SIGKILL', 0);
    await td.daemon.exited;
    expect(statSync(socketPath).isSocket()).toBe(true);
    await start(['--peer-socket', socketPath]);
    const now = (await managerExt('GetPeerAddress')) as string;
    expect(now).not.toBe(old);
    await expect(BusSocket.connectPeer(old, 5_000)).rejects.toThrow(/another one/);
    const fresh = await BusSocket.connectPeer(now, 5_000);
    await fresh.call(new Message({ path: '/', interface: 'org.freedesktop.DBus.Peer', member: 'Ping' }), 5_000);
    fresh.close();
  }, 60_000);

  it('a client that cannot reach the socket (a directory it may not enter) stays on the bus', async () => {
    await td.daemon.kill('SIGTERM', 5_000);
    await td.daemon.exited;
    const closed = mkdtempSync('/tmp/ns-peer-closed-');
    try {
      await start(['--peer-socket', join(closed, 'private')]);
      const script = `
        import { createSession, DBusTransport } from ${JSON.stringify(join(REPO_ROOT, 'dist/lib/index.js'))};
        const transport = new DBusTransport({ busAddress: process.env.DBUS_SYSTEM_BUS_ADDRESS });
        const s = await createSession({ transport });
        console.log(s.path);
        await transport.close();`;
      const r = await sb.run(sb.devNs, [process.execPath, '--input-type=module', '-e', script], {
        user: { uid: 65534, gid: 65534 },
      });
      expect(r.stdout.trim()).toMatch(/^\/sessions\/_1_\d+\//);
      // Root, in this process, reaches it.
      const transport = new DBusTransport({ busAddress: sb.dbusAddress! });
      const s = await createSession({ transport });
      expect(s.path).toMatch(/^\/sessions\/_peer_\d+\//);
      await transport.close();
      await td.daemon.kill('SIGTERM', 5_000);
      await td.daemon.exited;
    } finally {
      rmSync(closed, { recursive: true, force: true });
    }
    await start(['--peer-socket', socketPath]);
  }, 60_000);

  it("with --peer-socket '' there is none, and the SDK stays on the bus", async () => {
    await td.daemon.kill('SIGTERM', 5_000);
    await td.daemon.exited;
    // A clean stop removes the socket.
    expect(() => statSync(socketPath)).toThrow(/ENOENT/);
    await start(['--peer-socket', '']);
    expect(await managerExt('GetCapabilities')).not.toContain('PeerSocket');
    const transport = new DBusTransport({ busAddress: sb.dbusAddress! });
    const s = await createSession({ transport });
    expect(s.path).toMatch(/^\/sessions\/_1_\d+\//);
    await transport.close();
  }, 60_000);
});
