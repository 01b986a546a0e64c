/**
 * A raw ConnMan D-Bus client for integration tests: dbus-next on its own connection, calling
 * `net.connman` with explicit signatures and exporting `net.connman.Notification` and
 * `net.connman.Counter` objects that record every call with the variants' signatures intact.
 */
import dbus from 'dbus-next';
import { BUS_NAME, INTERFACES } from '../../../lib/protocol.js';

const { Message, Variant } = dbus;
type DVariant = InstanceType<typeof Variant>;
type DMessage = InstanceType<typeof Message>;

/** A recorded Update: values unwrapped, signatures kept per key. */
export interface RecordedUpdate {
  at: number;
  /** Serial the daemon gave the Update message (its send order on its connection). */
  serial: number;
  values: Record<string, unknown>;
  signatures: Record<string, string>;
  raw: Record<string, DVariant>;
}

/** Recursively unwraps dbus-next Variants into plain values. */
export function unwrap(v: unknown): unknown {
  if (v instanceof Variant) return unwrap(v.value);
  if (Array.isArray(v)) return v.map(unwrap);
  if (v && typeof v === 'object' && !(v instanceof Buffer))
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, unwrap(x)]));
  return v;
}

/** A D-Bus error reply, with its name. */
export class CallError extends Error {
  constructor(
    readonly type: string,
    message: string,
  ) {
    super(`${type}: ${message}`);
  }
}

export class Notifier {
  readonly updates: RecordedUpdate[] = [];
  releases = 0;
  readonly #waiters: Array<() => void> = [];

  record(dict: Record<string, DVariant>, serial = 0): void {
    const signatures: Record<string, string> = {};
    for (const [k, v] of Object.entries(dict)) signatures[k] = v.signature;
    this.updates.push({
      at: performance.now(),
      serial,
      values: unwrap(dict) as Record<string, unknown>,
      signatures,
      raw: dict,
    });
    for (const w of this.#waiters.splice(0)) w();
  }

  /** Records an Update another client read at `at` (its values already plain, as `unwrap` gives them). */
  recordPlain(values: Record<string, unknown>, at: number): void {
    this.updates.push({ at, serial: 0, values, signatures: {}, raw: {} });
    for (const w of this.#waiters.splice(0)) w();
  }

  released(): void {
    this.releases++;
    for (const w of this.#waiters.splice(0)) w();
  }

  /** The merged view of every Update so far (what a client believes the settings are). */
  get settings(): Record<string, unknown> {
    return Object.assign({}, ...this.updates.map((u) => u.values));
  }

  /** Waits until `pred` holds for the merged settings (checked after each Update). */
  async waitFor(
    pred: (s: Record<string, unknown>) => boolean,
    timeoutMs = 10_000,
    what = 'condition',
  ): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    while (!pred(this.settings)) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; settings now: ${JSON.stringify(this.settings)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.settings;
  }

  /** Waits for the n-th Update (1-based). */
  async waitCount(n: number, timeoutMs = 10_000): Promise<RecordedUpdate> {
    await this.waitFor(() => this.updates.length >= n, timeoutMs, `${n} updates`);
    return this.updates[n - 1]!;
  }
}

/** A recorded `Counter.Usage`: the service path and both dicts, unwrapped, signatures kept. */
export interface RecordedUsage {
  service: string;
  home: Record<string, unknown>;
  roaming: Record<string, unknown>;
  homeSignatures: Record<string, string>;
  roamingSignatures: Record<string, string>;
  /** The message flags (1 = NO_REPLY_EXPECTED). */
  flags: number;
}

/** A `net.connman.Counter` object: records Usage and Release calls. */
export class CounterObject {
  readonly usages: RecordedUsage[] = [];
  releases = 0;
  readonly #waiters: Array<() => void> = [];

  record(msg: DMessage): void {
    if (msg.member === 'Usage') {
      const [service, home, roaming] = msg.body as [string, Record<string, DVariant>, Record<string, DVariant>];
      const sigs = (d: Record<string, DVariant>) =>
        Object.fromEntries(Object.entries(d).map(([k, x]) => [k, x.signature]));
      this.usages.push({
        service,
        home: unwrap(home) as Record<string, unknown>,
        roaming: unwrap(roaming) as Record<string, unknown>,
        homeSignatures: sigs(home),
        roamingSignatures: sigs(roaming),
        flags: msg.flags,
      });
    } else this.releases++;
    for (const w of this.#waiters.splice(0)) w();
  }

  /** Usage calls about one service, in order. */
  usagesFor(service: string): RecordedUsage[] {
    return this.usages.filter((u) => u.service === service);
  }

  /** The merged `home` values for a service (what a client believes the totals are). */
  totals(service: string): Record<string, unknown> {
    return Object.assign({}, ...this.usagesFor(service).map((u) => u.home));
  }

  /** Waits until `pred` holds (checked after each call received). */
  async waitFor(pred: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pred()) {
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(
          `timed out waiting for ${what}; ${this.usages.length} Usage calls, last: ${JSON.stringify(this.usages.at(-1))}`,
        );
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }
}

export class ConnmanClient {
  readonly #notifiers = new Map<string, Notifier>();
  readonly #counters = new Map<string, CounterObject>();

  private constructor(readonly bus: ReturnType<typeof dbus.sessionBus>) {
    // Notification calls arrive as method calls on our connection; answer them by hand so
    // any notifier path works without an Interface object per path.
    bus.addMethodHandler((msg: DMessage) => {
      if (msg.interface === INTERFACES.counter && msg.path) {
        const c = this.#counters.get(msg.path);
        if (!c || (msg.member !== 'Usage' && msg.member !== 'Release')) return false;
        c.record(msg);
        if (!(msg.flags & 1)) bus.send(Message.newMethodReturn(msg, '', []));
        return true;
      }
      if (msg.interface !== INTERFACES.notification || !msg.path) return false;
      const n = this.#notifiers.get(msg.path);
      if (!n) return false;
      if (msg.member === 'Update') n.record(msg.body[0] as Record<string, DVariant>, msg.serial ?? 0);
      else if (msg.member === 'Release') n.released();
      else return false;
      if (!(msg.flags & 1)) bus.send(Message.newMethodReturn(msg, '', []));
      return true;
    });
  }

  static async connect(busAddress: string): Promise<ConnmanClient> {
    const bus = dbus.sessionBus({ busAddress });
    const c = new ConnmanClient(bus);
    await c.call('/', 'org.freedesktop.DBus.Peer', 'Ping', '', [], 'org.freedesktop.DBus');
    return c;
  }

  get name(): string {
    return (this.bus as unknown as { name?: string }).name ?? '';
  }

  notifier(path: string): Notifier {
    let n = this.#notifiers.get(path);
    if (!n) this.#notifiers.set(path, (n = new Notifier()));
    return n;
  }

  /** The counter object at `path` (exported on first use). */
  counter(path: string): CounterObject {
    let c = this.#counters.get(path);
    if (!c) this.#counters.set(path, (c = new CounterObject()));
    return c;
  }

  /** Manager.RegisterCounter with a counter object exported at `path`. */
  async registerCounter(path: string, accuracyKb: number, periodS: number): Promise<CounterObject> {
    const c = this.counter(path);
    await this.call('/', INTERFACES.manager, 'RegisterCounter', 'ouu', [path, accuracyKb, periodS]);
    return c;
  }

  async unregisterCounter(path: string): Promise<void> {
    await this.call('/', INTERFACES.manager, 'UnregisterCounter', 'o', [path]);
  }

  /** Service.ResetCounters on a service object path. */
  async resetCounters(servicePath: string): Promise<void> {
    await this.call(servicePath, INTERFACES.service, 'ResetCounters', '', []);
  }

  /** A method call with an explicit signature; D-Bus errors become CallError. */
  async call(
    path: string,
    iface: string,
    member: string,
    signature: string,
    body: unknown[],
    destination = BUS_NAME,
  ): Promise<unknown[]> {
    try {
      const reply = await this.bus.call(new Message({ destination, path, interface: iface, member, signature, body }));
      return reply?.body ?? [];
    } catch (err) {
      const e = err as { type?: string; text?: string; message?: string };
      if (e.type) throw new CallError(e.type, e.text ?? e.message ?? '');
      throw err;
    }
  }

  /** Manager.CreateSession with a notifier registered at `notifier`. */
  /**
   * Manager.CreateSession with a notifier registered at `notifier`. `replySerial` is the serial
   * of the daemon's reply: comparing it with an Update's serial tells the daemon's send order
   * (client-side clocks cannot: both can be parsed in one read before the promise resumes).
   */
  async createSession(
    settings: Record<string, DVariant>,
    notifier: string,
  ): Promise<{ path: string; n: Notifier; repliedAt: number; replySerial: number }> {
    const n = this.notifier(notifier);
    try {
      const reply = await this.bus.call(
        new Message({
          destination: BUS_NAME,
          path: '/',
          interface: INTERFACES.manager,
          member: 'CreateSession',
          signature: 'a{sv}o',
          body: [settings, notifier],
        }),
      );
      return { path: reply!.body[0] as string, n, repliedAt: performance.now(), replySerial: reply!.serial ?? 0 };
    } catch (err) {
      const e = err as { type?: string; text?: string; message?: string };
      if (e.type) throw new CallError(e.type, e.text ?? e.message ?? '');
      throw err;
    }
  }

  session(path: string) {
    const call = (member: string, signature = '', body: unknown[] = []) =>
      this.call(path, INTERFACES.session, member, signature, body);
    return {
      change: (key: string, v: DVariant) => call('Change', 'sv', [key, v]),
      connect: () => call('Connect'),
      disconnect: () => call('Disconnect'),
      destroy: () => call('Destroy'),
    };
  }

  async managerProperties(): Promise<Record<string, unknown>> {
    const [p] = await this.call('/', INTERFACES.manager, 'GetProperties', '', []);
    return unwrap(p) as Record<string, unknown>;
  }

  async setManagerProperty(name: string, v: DVariant): Promise<void> {
    await this.call('/', INTERFACES.manager, 'SetProperty', 'sv', [name, v]);
  }

  async services(): Promise<Array<{ path: string; props: Record<string, unknown> }>> {
    const [list] = await this.call('/', INTERFACES.manager, 'GetServices', '', []);
    return (list as Array<[string, Record<string, DVariant>]>).map(([path, props]) => ({
      path,
      props: unwrap(props) as Record<string, unknown>,
    }));
  }

  async technologies(): Promise<Array<{ path: string; props: Record<string, unknown> }>> {
    const [list] = await this.call('/', INTERFACES.manager, 'GetTechnologies', '', []);
    return (list as Array<[string, Record<string, DVariant>]>).map(([path, props]) => ({
      path,
      props: unwrap(props) as Record<string, unknown>,
    }));
  }

  disconnect(): void {
    this.bus.disconnect();
  }
}

export const v = {
  s: (x: string) => new Variant('s', x),
  b: (x: boolean) => new Variant('b', x),
  as: (x: string[]) => new Variant('as', x),
  u: (x: number) => new Variant('u', x),
};
