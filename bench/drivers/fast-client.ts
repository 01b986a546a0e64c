/**
 * A ConnMan client for benches that costs little per message: the SDK's own wire module
 * (lib/dbus BusSocket: one buffer and one write per message, no introspection, no per-call
 * objects beyond the message), instead of the test suite's dbus-next client, whose own
 * decoding, encoding and garbage collection add a few hundred µs to every round trip and so
 * hide the daemons' difference. Notification calls are answered at once and recorded with the
 * time they were read; nothing else is exported.
 *
 * Settings are `{ key: { signature, value } }` (lib/dbus Variant, or the test client's `v.*`
 * helpers: the marshaller takes any object with those two fields in a `v` position).
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { BusSocket, DBUS_NAME, DBUS_PATH } from '../../lib/dbus/bus-socket.js';
import { Message, MessageFlag } from '../../lib/dbus/message.js';
import { BUS_NAME, INTERFACES, NETSESSION_INTERFACE, NETSESSION_MANAGER_INTERFACE } from '../../lib/protocol.js';

const PEER = 'org.freedesktop.DBus.Peer';
const CALL_TIMEOUT_MS = 10_000;

/** A setting's value with its D-Bus signature. */
export type Setting = { signature: string; value: unknown };

/**
 * The Updates one notifier path received, with the time each was read (performance.now()); each
 * `settings` is the Update's dict as read, its values lib/dbus Variants (`.value` unwraps one).
 */
export class FastNotifier {
  readonly updates: Array<{ at: number; settings: Record<string, unknown> }> = [];
  released = false;
  #waiters: Array<{ n: number; resolve: () => void }> = [];

  /** Hears each Update as it is recorded (another recorder can follow this one). */
  onUpdate: ((at: number, settings: Record<string, unknown>) => void) | null = null;

  /** Called by the client for each Update. */
  record(at: number, settings: Record<string, unknown>): void {
    this.updates.push({ at, settings });
    this.onUpdate?.(at, settings);
    if (this.#waiters.length === 0) return;
    const still = [];
    for (const w of this.#waiters) {
      if (this.updates.length >= w.n) w.resolve();
      else still.push(w);
    }
    this.#waiters = still;
  }

  /** The `n`th Update (1-based), once it arrived. */
  async waitCount(n: number, timeoutMs = CALL_TIMEOUT_MS): Promise<{ at: number; settings: Record<string, unknown> }> {
    if (this.updates.length < n) {
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve, reject) => {
        timer = setTimeout(() => reject(new Error(`no Update #${n} within ${timeoutMs} ms`)), timeoutMs);
        this.#waiters.push({ n, resolve });
      }).finally(() => clearTimeout(timer));
    }
    return this.updates[n - 1]!;
  }
}

/** See the file comment. */
export class FastClient {
  readonly #notifiers = new Map<string, FastNotifier>();

  private constructor(readonly bus: BusSocket) {
    bus.onMethodCall = (msg) => {
      if (msg.interface !== INTERFACES.notification) return false;
      const n = this.#notifiers.get(msg.path);
      if (!n) return false;
      if (msg.member === 'Update') n.record(performance.now(), msg.body[0] as Record<string, unknown>);
      else if (msg.member === 'Release') n.released = true;
      else return false;
      if (!(msg.flags & MessageFlag.NO_REPLY_EXPECTED)) bus.send(Message.newMethodReturn(msg));
      return true;
    };
  }

  static async connect(address: string): Promise<FastClient> {
    return new FastClient(await BusSocket.connect(address, CALL_TIMEOUT_MS));
  }

  /**
   * As the SDK reaches a daemon: on its private socket when it offers one (netsessiond's
   * GetPeerAddress), else on the bus (connmand). `direct` says which it got.
   */
  static async connectDirect(address: string): Promise<{ client: FastClient; direct: boolean }> {
    const bus = await FastClient.connect(address);
    let peer: string | null = null;
    try {
      const [caps] = await bus.call('/', NETSESSION_MANAGER_INTERFACE, 'GetCapabilities');
      if ((caps as string[]).includes('PeerSocket'))
        peer = (await bus.call('/', NETSESSION_MANAGER_INTERFACE, 'GetPeerAddress'))[0] as string;
    } catch {
      // connmand: no extension interface, so no private socket.
    }
    if (peer === null) return { client: bus, direct: false };
    bus.close();
    return { client: new FastClient(await BusSocket.connectPeer(peer, CALL_TIMEOUT_MS)), direct: true };
  }

  /** The notifier at `path` (recording from now on). */
  notifier(path: string): FastNotifier {
    let n = this.#notifiers.get(path);
    if (!n) this.#notifiers.set(path, (n = new FastNotifier()));
    return n;
  }

  /** Stops recording `path` (a long bulk run need not keep 10,000 notifiers). */
  forget(path: string): void {
    this.#notifiers.delete(path);
  }

  /** A method call on `net.connman` (or `destination`); resolves with the reply's body. */
  async call(
    path: string,
    iface: string,
    member: string,
    signature = '',
    body: unknown[] = [],
    destination = BUS_NAME,
  ): Promise<unknown[]> {
    const reply = await this.bus.call(
      new Message({ destination, path, interface: iface, member, signature, body }),
      CALL_TIMEOUT_MS,
    );
    return reply.body;
  }

  /**
   * Manager.CreateSession with a notifier recorded at `notifier` (pass `record: false` to skip
   * the recording, as a bulk apply does); `repliedAt` is when the reply was read.
   */
  async createSession(
    settings: Record<string, Setting>,
    notifier: string,
    record = true,
  ): Promise<{ path: string; repliedAt: number; n: FastNotifier | null }> {
    const n = record ? this.notifier(notifier) : null;
    const [path] = await this.call('/', INTERFACES.manager, 'CreateSession', 'a{sv}o', [settings, notifier]);
    return { path: path as string, repliedAt: performance.now(), n };
  }

  change(path: string, key: string, value: Setting): Promise<unknown[]> {
    return this.call(path, INTERFACES.session, 'Change', 'sv', [key, value]);
  }

  destroy(path: string): Promise<unknown[]> {
    return this.call(path, INTERFACES.session, 'Destroy');
  }

  /** org.netsession.Session1.GetStatistics: the session's counters (netsessiond only). */
  async getStatistics(path: string): Promise<Record<string, unknown>> {
    const [dict] = await this.call(path, NETSESSION_INTERFACE, 'GetStatistics');
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(dict as Record<string, { value: unknown }>)) out[k] = v.value;
    return out;
  }

  /** Peer.Ping to `destination` (default the daemon; `org.freedesktop.DBus` is the bus itself). */
  async ping(destination = BUS_NAME): Promise<void> {
    const path = destination === DBUS_NAME ? DBUS_PATH : '/';
    await this.call(path, PEER, 'Ping', '', [], destination);
  }

  /**
   * Creates `count` sessions with `inFlight` calls outstanding at a time (replies only, nothing
   * recorded); returns the paths in index order.
   */
  async createMany(
    count: number,
    inFlight: number,
    prefix: string,
    settings: (i: number) => Record<string, Setting>,
  ): Promise<string[]> {
    const paths = new Array<string>(count);
    let next = 0;
    const worker = async () => {
      while (next < count) {
        const i = next++;
        paths[i] = (await this.createSession(settings(i), `${prefix}/${i}`, false)).path;
      }
    };
    await Promise.all(Array.from({ length: Math.min(inFlight, count) }, worker));
    return paths;
  }

  close(): void {
    this.bus.close();
  }
}

/** The bus name the bare responder owns (bus policy: {@link FLOOR_BUS_POLICY}). */
export const RESPONDER_NAME = 'org.netsession.BenchResponder';

/** Lets root own and call {@link RESPONDER_NAME} on the sandbox's system bus. */
export const FLOOR_BUS_POLICY = `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <policy user="root">
    <allow own="${RESPONDER_NAME}"/>
    <allow send_destination="${RESPONDER_NAME}"/>
  </policy>
</busconfig>
`;

/** Writes {@link FLOOR_BUS_POLICY} into `dir`; returns the file, for the sandbox's includes. */
export function writeFloorPolicy(dir: string): string {
  const file = join(dir, 'bench-floor-dbus.conf');
  writeFileSync(file, FLOOR_BUS_POLICY);
  return file;
}

/**
 * A bare Node process on the compiled lib/dbus (`buildDir`, as the daemon runs) that owns
 * {@link RESPONDER_NAME} and does nothing but let BusSocket answer Peer.Ping: the floor any
 * Node daemon meets through this bus. Resolves once the name is owned.
 */
export async function startResponder(buildDir: string, address: string): Promise<{ stop(): Promise<void> }> {
  const code = `
import { BusSocket, busMethod } from ${JSON.stringify(join(buildDir, 'lib/dbus/bus-socket.js'))};
const bus = await BusSocket.connect(${JSON.stringify(address)}, 10000);
const [r] = (await bus.call(busMethod('RequestName', 'su', [${JSON.stringify(RESPONDER_NAME)}, 4]), 10000)).body;
console.log('OWNED ' + r);
`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the bare responder did not own its name within 10 s')), 10_000);
    child.once('exit', (c) => reject(new Error(`the bare responder exited (${c})`)));
    child.stdout!.on('data', (d: Buffer) => {
      const m = /OWNED (\d+)/.exec(String(d));
      if (!m) return;
      clearTimeout(timer);
      if (m[1] === '1') resolve();
      else reject(new Error(`the bare responder could not own ${RESPONDER_NAME} (reply ${m[1]})`));
    });
  });
  return {
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.removeAllListeners('exit');
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
