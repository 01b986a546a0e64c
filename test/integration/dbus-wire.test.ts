/**
 * The project's own D-Bus connection (lib/dbus/bus-socket.ts) against a real dbus-daemon: both
 * address kinds, Hello, calls with replies, errors and timeouts, signals through AddMatch and
 * RemoveMatch, NameOwnerChanged, RequestName/ReleaseName, GetConnectionCredentials, Peer. And
 * against a hostile fake bus on a socket of our own: malformed messages end in an error reply
 * or a closed connection, never in an exception out of the event loop; the daemon adapter on such
 * a peer answers a malformed call with InvalidArgs and keeps serving.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDBusAdapter } from '../../daemon/adapters/dbus/index.js';
import {
  BusSocket,
  busMethod,
  CallTimeoutError,
  ConnectionClosedError,
  socketPathOf,
  socketPathsOf,
} from '../../lib/dbus/bus-socket.js';
import { marshallMessage } from '../../lib/dbus/marshall.js';
import { DBusError, Message, MessageType, NameFlag, RequestNameReply, Variant } from '../../lib/dbus/message.js';
import { unmarshallMessage as readMessage } from '../../lib/dbus/unmarshall.js';
import { NativeModuleMissingError } from '../../lib/errors.js';
import { prepareDbus } from './harness/dbus.js';
import { ScriptedDaemonApiDouble } from './support/daemon-api-double.js';
import { type PrivateBus, startPrivateBus } from './support/private-bus.js';

let bus: PrivateBus;
beforeAll(async () => {
  bus = await startPrivateBus();
});
afterAll(async () => {
  await bus?.stop();
});

function until<T>(fn: (resolve: (v: T) => void) => void, ms = 5_000): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not within ${ms} ms`)), ms);
    fn((v) => {
      clearTimeout(timer);
      resolve(v);
    });
  });
}

describe('BusSocket on a real dbus-daemon', () => {
  it('parses addresses: path, abstract, escapes, several; refuses tcp', () => {
    expect(socketPathOf('unix:path=/run/x%20y,guid=abc')).toBe('/run/x y');
    expect(socketPathOf('unix:abstract=/tmp/dbus-1')).toBe('\0/tmp/dbus-1');
    expect(socketPathOf('tcp:host=a,port=1;unix:path=/b')).toBe('/b');
    expect(socketPathsOf('unix:abstract=a;tcp:host=a,port=1;unix:path=/b')).toEqual(['\0a', '/b']);
    expect(() => socketPathOf('tcp:host=a,port=1')).toThrow(/only unix:path= and unix:abstract=/);
  });

  it('authenticates, says Hello and reads the credentials the bus knows of a peer', async () => {
    const a = await BusSocket.connect(bus.address, 5_000);
    const b = await BusSocket.connect(bus.address, 5_000);
    try {
      expect(a.uniqueName).toMatch(/^:1\.\d+$/);
      expect(b.uniqueName).not.toBe(a.uniqueName);
      const reply = await a.call(busMethod('GetConnectionCredentials', 's', [b.uniqueName]));
      const creds = reply.body[0] as Record<string, Variant>;
      expect(creds.UnixUserID).toEqual(new Variant('u', process.getuid!()));
      expect(creds.ProcessID).toEqual(new Variant('u', process.pid));
    } finally {
      a.close();
      b.close();
    }
  });

  it('method calls: reply, error reply, UnknownMethod for unclaimed calls, Peer.Ping, timeout', async () => {
    const a = await BusSocket.connect(bus.address, 5_000);
    const b = await BusSocket.connect(bus.address, 5_000);
    try {
      b.onMethodCall = (m) => {
        if (m.member === 'Echo') b.send(Message.newMethodReturn(m, m.signature, m.body));
        else if (m.member === 'Fail') b.send(Message.newError(m, 'net.connman.Error.InvalidArguments', 'no'));
        else if (m.member === 'Never') return true;
        else return false;
        return true;
      };
      const body = [
        {
          IPv4: new Variant('a{sv}', { Address: new Variant('s', '198.51.100.2'), PrefixLength: new Variant('y', 24) }),
        },
        2n ** 63n,
        -3,
        2.5,
      ];
      const to = (member: string, signature = '', b2: unknown[] = []) =>
        new Message({
          destination: b.uniqueName,
          path: '/net/connman',
          interface: 'org.example.T',
          member,
          signature,
          body: b2,
        });
      const echo = await a.call(to('Echo', 'a{sv}tid', body));
      expect(echo.body).toEqual(body);
      expect(echo.sender).toBe(b.uniqueName);
      await expect(a.call(to('Fail'))).rejects.toMatchObject({
        name: 'DBusError',
        type: 'net.connman.Error.InvalidArguments',
        text: 'no',
      });
      await expect(a.call(to('Other'))).rejects.toMatchObject({ type: 'org.freedesktop.DBus.Error.UnknownMethod' });
      const ping = await a.call(
        new Message({
          destination: b.uniqueName,
          path: '/any',
          interface: 'org.freedesktop.DBus.Peer',
          member: 'Ping',
        }),
      );
      expect(ping.type).toBe(MessageType.METHOD_RETURN);
      await expect(a.call(to('Never'), 100)).rejects.toBeInstanceOf(CallTimeoutError);
      expect(a.pendingCalls).toBe(0);
    } finally {
      a.close();
      b.close();
    }
  });

  it('signals: AddMatch delivers, RemoveMatch stops; NameOwnerChanged when a peer leaves', async () => {
    const a = await BusSocket.connect(bus.address, 5_000);
    const b = await BusSocket.connect(bus.address, 5_000);
    try {
      const rule = `type='signal',sender='${b.uniqueName}',interface='org.example.S',member='Tick'`;
      const seen: Message[] = [];
      const left: string[] = [];
      a.onSignal = (m) => {
        if (m.member === 'Tick') seen.push(m);
        if (m.member === 'NameOwnerChanged' && m.body[0] === b.uniqueName && m.body[2] === '')
          left.push(m.body[0] as string);
      };
      await a.call(busMethod('AddMatch', 's', [rule]));
      await a.call(
        busMethod('AddMatch', 's', [`type='signal',sender='org.freedesktop.DBus',member='NameOwnerChanged',arg2=''`]),
      );
      b.send(Message.newSignal('/s', 'org.example.S', 'Tick', 'u', [1]));
      await until<void>((done) => {
        const t = setInterval(() => seen.length === 1 && (clearInterval(t), done()), 5);
      });
      expect(seen[0]).toMatchObject({ path: '/s', body: [1], sender: b.uniqueName });
      await a.call(busMethod('RemoveMatch', 's', [rule]));
      b.send(Message.newSignal('/s', 'org.example.S', 'Tick', 'u', [2]));
      // A round trip through b and the bus: the second signal, if delivered, would be here first.
      await a.call(
        new Message({ destination: b.uniqueName, path: '/', interface: 'org.freedesktop.DBus.Peer', member: 'Ping' }),
      );
      expect(seen).toHaveLength(1);
      const name = b.uniqueName;
      b.close();
      await until<void>((done) => {
        const t = setInterval(() => left.length === 1 && (clearInterval(t), done()), 5);
      });
      expect(left).toEqual([name]);
    } finally {
      a.close();
      b.close();
    }
  });

  it('RequestName and ReleaseName; the second claimant is told the name exists', async () => {
    const a = await BusSocket.connect(bus.address, 5_000);
    const b = await BusSocket.connect(bus.address, 5_000);
    try {
      const name = `org.example.W${randomBytes(3).toString('hex')}`;
      const own = async (s: BusSocket) =>
        (await s.call(busMethod('RequestName', 'su', [name, NameFlag.DO_NOT_QUEUE]))).body[0];
      expect(await own(a)).toBe(RequestNameReply.PRIMARY_OWNER);
      expect(await own(b)).toBe(RequestNameReply.EXISTS);
      expect((await b.call(busMethod('GetNameOwner', 's', [name]))).body).toEqual([a.uniqueName]);
      expect((await a.call(busMethod('ReleaseName', 's', [name]))).body).toEqual([1]);
      await expect(b.call(busMethod('GetNameOwner', 's', [name]))).rejects.toBeInstanceOf(DBusError);
    } finally {
      a.close();
      b.close();
    }
  });

  it('connects to unix:abstract= addresses', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'nsd-abus-'));
    const setup = await prepareDbus(dir);
    const address = `unix:abstract=/netsession-test/${process.pid}-${randomBytes(4).toString('hex')}`;
    const child = spawn(
      'dbus-daemon',
      [
        `--config-file=${setup.configPath}`,
        `--address=${address}`,
        '--nofork',
        '--nopidfile',
        '--nosyslog',
        '--print-address=1',
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      await until<void>((done) => child.stdout.once('data', () => done()));
      const a = await BusSocket.connect(address, 5_000);
      expect(a.uniqueName).toMatch(/^:1\./);
      a.close();
    } finally {
      child.kill('SIGTERM');
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('without koffi, passes an abstract address over for the next one of the list, and says what to do when none is left', async () => {
    const noKoffi = () =>
      Promise.reject(Object.assign(new Error("Cannot find package 'koffi'"), { code: 'ERR_MODULE_NOT_FOUND' }));
    const abstract = `unix:abstract=/netsession-test/${process.pid}-nobody`;
    expect(bus.address).toMatch(/^unix:path=/);
    const a = await BusSocket.connect(`${abstract};${bus.address}`, 5_000, noKoffi);
    try {
      expect(a.uniqueName).toMatch(/^:1\./);
    } finally {
      a.close();
    }
    const err = await BusSocket.connect(abstract, 5_000, noKoffi).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NativeModuleMissingError);
    expect((err as NativeModuleMissingError).module).toBe('koffi');
    expect((err as Error).message).toMatch(/install it \(npm install koffi\) or use a unix:path= bus address/);
    expect((err as Error).message).toContain("Cannot find package 'koffi'");
  });

  it('fails clearly for an address nobody listens on', async () => {
    await expect(BusSocket.connect(`unix:path=${join(tmpdir(), 'nsd-nobody-here')}`, 2_000)).rejects.toThrow(/ENOENT/);
  });
});

/** A fake bus: accepts EXTERNAL, answers Hello, then lets the test write raw bytes. */
async function fakeBus(): Promise<{ address: string; server: Server; peer: Promise<Socket>; close(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'nsd-fake-'));
  const path = join(dir, 'sock');
  let gotPeer!: (s: Socket) => void;
  const peer = new Promise<Socket>((r) => (gotPeer = r));
  const server = createServer((s) => {
    let text = '';
    const onData = (d: Buffer) => {
      text += d.toString('latin1');
      if (text.includes('AUTH EXTERNAL') && !text.includes('OK sent')) {
        s.write('OK 0123456789abcdef0123456789abcdef\r\n');
        text += 'OK sent';
      }
      if (text.includes('BEGIN\r\n')) {
        s.removeListener('data', onData);
        s.write(
          marshallMessage(
            new Message({
              type: MessageType.METHOD_RETURN,
              replySerial: 1,
              destination: ':1.9',
              sender: 'org.freedesktop.DBus',
              signature: 's',
              body: [':1.9'],
            }),
            1,
          ),
        );
        gotPeer(s);
      }
    };
    s.on('data', onData);
  });
  await new Promise<void>((r) => server.listen(path, r));
  return {
    address: `unix:path=${path}`,
    server,
    peer,
    async close() {
      server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

describe('BusSocket writes', () => {
  it('a flush inside a batch waits for its end: the messages leave in one system call (writev)', async () => {
    const fake = await fakeBus();
    const proto = Socket.prototype as unknown as Record<'_write' | '_writev', (...a: unknown[]) => void>;
    const original = { write: proto._write, writev: proto._writev };
    const calls: string[] = [];
    try {
      const bus = await BusSocket.connect(fake.address, 2_000);
      await fake.peer;
      bus.coalesceWrites();
      const signal = (member: string) =>
        new Message({ type: MessageType.SIGNAL, path: '/t', interface: 'org.example.T', member });
      proto._write = function (this: unknown, ...a: unknown[]) {
        calls.push('write');
        return original.write.apply(this, a);
      };
      proto._writev = function (this: unknown, ...a: unknown[]) {
        calls.push(`writev ${(a[0] as unknown[]).length}`);
        return original.writev.apply(this, a);
      };
      bus.batch(() => {
        bus.send(signal('A'));
        bus.flush(); // as the daemon does after Updates released by a call
        bus.send(signal('B'));
      });
      expect(calls).toEqual(['writev 2']);
      // Outside a batch a flush writes at once.
      calls.length = 0;
      bus.send(signal('C'));
      bus.flush();
      expect(calls).toEqual(['write']);
      bus.close();
    } finally {
      proto._write = original.write;
      proto._writev = original.writev;
      await fake.close();
    }
  });
});

describe('BusSocket against a hostile peer', () => {
  it('a bus that refuses EXTERNAL, or never answers, fails the connect with a clear error', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'nsd-rej-'));
    const refusing = createServer((s) => s.on('data', () => s.write('REJECTED DBUS_COOKIE_SHA1\r\n')));
    const silent = createServer(() => {});
    try {
      await new Promise<void>((r) => refusing.listen(join(dir, 'refuse'), r));
      await new Promise<void>((r) => silent.listen(join(dir, 'silent'), r));
      await expect(BusSocket.connect(`unix:path=${join(dir, 'refuse')}`, 2_000)).rejects.toThrow(
        /refused authentication: REJECTED/,
      );
      await expect(BusSocket.connect(`unix:path=${join(dir, 'silent')}`, 200)).rejects.toThrow(
        /no answer from the bus within 200 ms/,
      );
    } finally {
      refusing.close();
      silent.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a method call with a malformed body gets InvalidArgs; the connection stays up', async () => {
    const fake = await fakeBus();
    const conn = await BusSocket.connect(fake.address, 5_000);
    try {
      const peer = await fake.peer;
      const replies: Message[] = [];
      let chunks = Buffer.alloc(0);
      peer.on('data', (d: Buffer) => (chunks = Buffer.concat([chunks, d])));
      const bytes = Buffer.from(
        marshallMessage(
          new Message({ path: '/x', interface: 'a.b', member: 'M', sender: ':1.2', signature: 'b', body: [true] }),
          77,
        ),
      );
      bytes.writeUInt32LE(5, bytes.length - 4);
      let handled = 0;
      conn.onMethodCall = () => {
        handled++;
        return true;
      };
      peer.write(bytes);
      await until<void>((done) => {
        const t = setInterval(() => chunks.length > 0 && (clearInterval(t), done()), 5);
      });
      const { unmarshallMessage } = await import('../../lib/dbus/unmarshall.js');
      replies.push(unmarshallMessage(chunks));
      expect(replies[0]).toMatchObject({
        type: MessageType.ERROR,
        replySerial: 77,
        errorName: 'org.freedesktop.DBus.Error.InvalidArgs',
        destination: ':1.2',
      });
      expect(handled).toBe(0);
      expect(conn.open).toBe(true);
    } finally {
      conn.close();
      await fake.close();
    }
  });

  it('a broken header closes the connection and fails pending calls; nothing is thrown', async () => {
    const fake = await fakeBus();
    const conn = await BusSocket.connect(fake.address, 5_000);
    try {
      const peer = await fake.peer;
      const closed = until<Error>((done) => (conn.onClose = done));
      const pending = conn.call(busMethod('GetId'));
      const garbage = Buffer.alloc(32, 0);
      garbage.write('lX', 0, 'latin1');
      peer.write(garbage);
      const err = await closed;
      expect(err).toBeInstanceOf(ConnectionClosedError);
      expect(err.message).toMatch(/malformed/);
      await expect(pending).rejects.toBeInstanceOf(ConnectionClosedError);
      expect(conn.open).toBe(false);
    } finally {
      conn.close();
      await fake.close();
    }
  });

  it('a message split across many writes is reassembled', async () => {
    const fake = await fakeBus();
    const conn = await BusSocket.connect(fake.address, 5_000);
    try {
      const peer = await fake.peer;
      const got = until<Message>((done) => (conn.onSignal = done));
      const big = 'x'.repeat(100_000);
      const bytes = marshallMessage(
        new Message({
          type: MessageType.SIGNAL,
          path: '/p',
          interface: 'a.b',
          member: 'S',
          sender: ':1.3',
          signature: 's',
          body: [big],
        }),
        5,
      );
      for (let i = 0; i < bytes.length; i += 7_000) {
        peer.write(bytes.subarray(i, i + 7_000));
        await new Promise((r) => setTimeout(r, 1));
      }
      expect((await got).body).toEqual([big]);
    } finally {
      conn.close();
      await fake.close();
    }
  });
});

describe('the daemon adapter against a hostile peer', () => {
  it('answers a malformed CreateSession with InvalidArgs and keeps serving; a broken header only ends its bus connection', async () => {
    const fake = await fakeBus();
    const logs: string[] = [];
    const adapter = createDBusAdapter({ busAddress: fake.address, log: (_l, m) => logs.push(m) });
    try {
      const starting = adapter.start(new ScriptedDaemonApiDouble());
      const peer = await fake.peer;
      // Plays the bus: answers the daemon's AddMatch and RequestName, records everything else.
      const got: Message[] = [];
      let buf = Buffer.alloc(0);
      peer.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        while (buf.length >= 16) {
          const len = frameLengthOf(buf);
          if (buf.length < len) break;
          const m = readMessage(buf.subarray(0, len));
          buf = buf.subarray(len);
          if (m.destination === 'org.freedesktop.DBus') {
            const body = m.member === 'RequestName' ? [RequestNameReply.PRIMARY_OWNER] : [];
            peer.write(
              marshallMessage(
                new Message({
                  type: MessageType.METHOD_RETURN,
                  replySerial: m.serial,
                  destination: ':1.9',
                  sender: 'org.freedesktop.DBus',
                  signature: body.length ? 'u' : '',
                  body,
                }),
                1000 + m.serial,
              ),
            );
          } else got.push(m);
        }
      });
      await starting;
      const bad = Buffer.from(
        marshallMessage(
          new Message({
            path: '/',
            interface: 'net.connman.Manager',
            member: 'CreateSession',
            sender: ':1.50',
            destination: 'net.connman',
            signature: 'a{sv}o',
            body: [{ K: new Variant('b', true) }, '/n'],
          }),
          5,
        ),
      );
      // The boolean inside the dict (after its variant signature 'b', 4-aligned) becomes 2.
      const sigEnd = bad.indexOf(Buffer.from([1, 0x62, 0])) + 3;
      bad.writeUInt32LE(2, sigEnd + ((4 - (sigEnd % 4)) % 4));
      peer.write(bad);
      peer.write(
        marshallMessage(
          new Message({
            path: '/',
            interface: 'org.freedesktop.DBus.Introspectable',
            member: 'Introspect',
            sender: ':1.50',
            destination: 'net.connman',
          }),
          6,
        ),
      );
      await until<void>((done) => {
        const t = setInterval(() => got.length >= 2 && (clearInterval(t), done()), 5);
      });
      expect(got[0]).toMatchObject({
        type: MessageType.ERROR,
        replySerial: 5,
        errorName: 'org.freedesktop.DBus.Error.InvalidArgs',
        destination: ':1.50',
      });
      expect(got[1]).toMatchObject({ type: MessageType.METHOD_RETURN, replySerial: 6, signature: 's' });
      expect(logs.some((l) => l.includes('malformed') && l.includes('boolean 2'))).toBe(true);
      // Garbage where a header should be: the daemon drops the connection and says so; no exception.
      peer.write(Buffer.alloc(24, 0x58));
      await until<void>((done) => {
        const t = setInterval(
          () => logs.some((l) => l.includes('closed the connection')) && (clearInterval(t), done()),
          5,
        );
      });
    } finally {
      await adapter.stop();
      await fake.close();
    }
  });
});

function frameLengthOf(b: Buffer): number {
  const fields = b.readUInt32LE(12);
  return 16 + fields + ((8 - (fields % 8)) % 8) + b.readUInt32LE(4);
}
