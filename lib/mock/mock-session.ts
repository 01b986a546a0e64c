/**
 * The mock daemon's side of one session: its current settings in ConnMan's wire form, and the
 * levers a test pulls to script it (Updates, uplink moves, Release).
 */

import type { NetsessionError } from '../errors.js';
import {
  BEARERS,
  type Bearer,
  CONNECTION_TYPES,
  isValidInterfaceName,
  type RequestKey,
  SESSION_STATES,
  SETTING_KEYS,
  SETTING_SIGNATURES,
  type SessionSettings,
} from '../protocol.js';
import type { SessionNotifier, SessionRequest, SessionStatistics } from '../transport.js';
import { expandBearers, type MockUplink, NO_UPLINK, selectUplink, type UplinkGroup, uplinkGroup } from './uplink.js';

/** A value the mock daemon refuses, like netsessiond would (`net.connman.Error.InvalidArguments`). */
export class MockRejection extends Error {}

function settingsChanged(before: Partial<SessionSettings>, after: Partial<SessionSettings>): Partial<SessionSettings> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(after)) {
    if (JSON.stringify((before as Record<string, unknown>)[k]) !== JSON.stringify(v)) out[k] = v;
  }
  return out as Partial<SessionSettings>;
}

function checkUpdate(changes: Partial<SessionSettings>): void {
  for (const [key, value] of Object.entries(changes)) {
    if (!Object.hasOwn(SETTING_SIGNATURES, key))
      throw new TypeError(`MockSession.update: unknown key '${key}' (ConnMan sends only ${SETTING_KEYS.join(', ')})`);
    const sig = SETTING_SIGNATURES[key as keyof typeof SETTING_SIGNATURES];
    const ok =
      sig === 's'
        ? typeof value === 'string'
        : sig === 'b'
          ? typeof value === 'boolean'
          : sig === 'as'
            ? Array.isArray(value)
            : value !== null && typeof value === 'object';
    if (!ok)
      throw new TypeError(`MockSession.update: '${key}' must have D-Bus type '${sig}', got ${JSON.stringify(value)}`);
  }
  if (changes.State !== undefined && !SESSION_STATES.includes(changes.State))
    throw new TypeError(`MockSession.update: State must be one of ${SESSION_STATES.join(', ')}`);
  if (changes.Bearer !== undefined && changes.Bearer !== '' && !BEARERS.includes(changes.Bearer))
    throw new TypeError(`MockSession.update: unknown Bearer '${changes.Bearer}'`);
}

/**
 * One session as the mock daemon holds it. Get it from `mock.sessions`, `mock.lastSession()` or
 * `mock.sessionFor(session)`; everything it sends reaches the SDK's Session synchronously.
 *
 * A session follows the mock's uplinks (`mock.setUplinks`) by the daemon's selection rule, until
 * a test scripts its uplink with {@link MockSession.update}, `goOnline`, `goConnected` or
 * `goOffline`; from then on it keeps what was scripted.
 */
export class MockSession {
  /** The session's object path, as CreateSession returned it. */
  readonly path: string;
  /** The settings CreateSession carried, in ConnMan's form. */
  readonly request: Readonly<SessionRequest>;
  /** What GetStatistics answers; set it freely. */
  statistics: SessionStatistics = { rxBytes: 0n, txBytes: 0n, rxPackets: 0n, txPackets: 0n };
  /** The cgroups the client claimed (ClaimCgroup), in order. */
  readonly cgroups: string[] = [];
  #settings: Partial<SessionSettings> = {};
  #sentFirst = false;
  #ended = false;
  #active = true;
  #scripted: UplinkGroup | null = null;
  #avoidMetered: boolean;
  #statsWatch: { seconds: number; listener: (statistics: SessionStatistics) => void } | null = null;
  readonly #notifier: SessionNotifier;
  readonly #uplinks: () => readonly MockUplink[];
  readonly #policyBearers: readonly Bearer[] | null;

  private constructor(
    path: string,
    request: SessionRequest,
    notifier: SessionNotifier,
    uplinks: () => readonly MockUplink[],
    policyBearers: readonly Bearer[] | null,
  ) {
    this.path = path;
    this.request = Object.freeze({ ...request });
    this.#notifier = notifier;
    this.#uplinks = uplinks;
    this.#policyBearers = policyBearers;
    this.#avoidMetered = request.AvoidMetered ?? false;
  }

  /** @internal Only MockTransport creates them. */
  static _create(
    path: string,
    request: SessionRequest,
    notifier: SessionNotifier,
    uplinks: () => readonly MockUplink[],
    policyBearers: readonly Bearer[] | null = null,
  ): MockSession {
    return new MockSession(path, request, notifier, uplinks, policyBearers);
  }

  /** The bearers asked for, filtered by the mock's policy (netsessiond keeps the user's order). */
  #effectiveBearers(list: readonly string[]): Bearer[] {
    const asked = expandBearers(list);
    const policy = this.#policyBearers;
    return policy ? asked.filter((b) => policy.includes(b)) : asked;
  }

  /** The settings as the daemon last sent them (complete once the first Update went out). */
  get settings(): Readonly<Partial<SessionSettings>> {
    return this.#settings;
  }

  /** True once the session ended: destroyed by the client, released, or lost with the daemon. */
  get destroyed(): boolean {
    return this.#ended;
  }

  /** False between the client's Disconnect and its next Connect. */
  get active(): boolean {
    return this.#active;
  }

  /**
   * Sends an Update with exactly these keys (ConnMan's names and values). The first Update must
   * carry all 11 keys, as the daemon's does; later ones carry what changed. Throws a TypeError
   * for unknown keys or values of the wrong type, and once the session ended.
   */
  update(changes: Partial<SessionSettings>): void {
    this.#assertLive('update');
    checkUpdate(changes);
    if (!this.#sentFirst) {
      const missing = SETTING_KEYS.filter((k) => !Object.hasOwn(changes, k));
      if (missing.length)
        throw new TypeError(`MockSession.update: the first Update must carry every key; missing ${missing.join(', ')}`);
    }
    const keys = ['State', 'Name', 'IPv4', 'IPv6', 'Interface', 'Bearer'] as const;
    if (keys.some((k) => Object.hasOwn(changes, k))) {
      // Scripting any uplink key pins the session's uplink to what the test says.
      const merged = { ...NO_UPLINK, ...this.#settings, ...changes } as SessionSettings;
      this.#scripted = Object.fromEntries(keys.map((k) => [k, merged[k]])) as unknown as UplinkGroup;
    }
    this.#send(changes);
  }

  /** Binds the session to `uplink` (state `online` unless the uplink says `connected`), in one Update. */
  goOnline(uplink: MockUplink): void {
    this.#script(uplinkGroup(uplink));
  }

  /** Binds the session to `uplink` with state `connected` (up, internet not verified). */
  goConnected(uplink: MockUplink): void {
    this.#script(uplinkGroup({ ...uplink, state: 'connected' }));
  }

  /** Unbinds the session: state `disconnected`, no interface, no addresses. */
  goOffline(): void {
    this.#script({ ...NO_UPLINK });
  }

  /**
   * The interval (seconds) the client asked for with `SetStatisticsInterval` (the SDK does when
   * a `statistics` listener is added), or `null` while nobody watches the statistics.
   */
  get statisticsInterval(): number | null {
    return this.#statsWatch?.seconds ?? null;
  }

  /**
   * Sends a `Statistics` signal to the client watching them, as the daemon does every interval:
   * `stats` first updates {@link MockSession.statistics} (what GetStatistics answers), then the
   * whole of it is sent. Returns false, sending nothing, while nobody watches. Throws a TypeError
   * once the session ended.
   */
  emitStatistics(stats: Partial<SessionStatistics> = {}): boolean {
    this.#assertLive('emitStatistics');
    this.statistics = { ...this.statistics, ...stats };
    const w = this.#statsWatch;
    if (!w) return false;
    w.listener({ ...this.statistics });
    return true;
  }

  /** The daemon releases the session (`Notification.Release`, as on daemon shutdown). */
  release(): void {
    this.#assertLive('release');
    this.#ended = true;
    this.#statsWatch = null;
    this.#notifier.release();
  }

  // ------------------------------------------------------------------ driven by MockTransport

  /** @internal The first Update, right after CreateSession. */
  _start(): void {
    if (this.#ended || this.#sentFirst) return;
    const r = this.request;
    const config = {
      ConnectionType: r.ConnectionType ?? 'any',
      AllowedBearers: this.#effectiveBearers(r.AllowedBearers ?? ['*']),
      AllowedInterface: !r.AllowedInterface ? '*' : r.AllowedInterface,
      ContextIdentifier: r.ContextIdentifier ?? '',
      SourceIPRule: r.SourceIPRule ?? false,
    };
    this.#settings = { ...NO_UPLINK, ...config };
    const full = { ...this.#settings, ...this.#selected() } as SessionSettings;
    const ordered = Object.fromEntries(SETTING_KEYS.map((k) => [k, full[k]])) as unknown as SessionSettings;
    this.#sentFirst = true;
    this.#settings = ordered;
    this.#notifier.update(ordered);
  }

  /** @internal Session.Change, validated like the daemon; one Update with everything that changed. */
  _change(key: RequestKey, value: unknown): void {
    const next: Partial<SessionSettings> = { ...this.#settings };
    switch (key) {
      case 'AllowedBearers': {
        if (
          !Array.isArray(value) ||
          value.some((b) => typeof b !== 'string' || (b !== '*' && b !== '' && !BEARERS.includes(b as never)))
        ) {
          throw new MockRejection(`invalid AllowedBearers ${JSON.stringify(value)}`);
        }
        next.AllowedBearers = this.#effectiveBearers(value as string[]);
        break;
      }
      case 'ConnectionType':
        if (!CONNECTION_TYPES.includes(value as never))
          throw new MockRejection(`invalid ConnectionType ${JSON.stringify(value)}`);
        next.ConnectionType = value as SessionSettings['ConnectionType'];
        break;
      case 'AllowedInterface':
        if (typeof value !== 'string' || (value !== '' && value !== '*' && !isValidInterfaceName(value)))
          throw new MockRejection(`invalid AllowedInterface ${JSON.stringify(value)}`);
        next.AllowedInterface = value === '' ? '*' : value;
        break;
      case 'SourceIPRule':
        if (typeof value !== 'boolean') throw new MockRejection('SourceIPRule must be a boolean');
        next.SourceIPRule = value;
        break;
      case 'ContextIdentifier':
        if (typeof value !== 'string') throw new MockRejection('ContextIdentifier must be a string');
        next.ContextIdentifier = value;
        break;
      case 'AvoidMetered':
        if (typeof value !== 'boolean') throw new MockRejection('AvoidMetered must be a boolean');
        this.#avoidMetered = value;
        // Not an Update key: only the binding may change.
        this.#reselect({});
        return;
      default:
        throw new MockRejection(`unknown or read-only setting '${String(key)}'`);
    }
    this.#settings = next;
    this.#reselect({ [key]: (next as Record<string, unknown>)[key] });
  }

  /** @internal Session.Connect / Session.Disconnect. */
  _setActive(active: boolean): void {
    this.#active = active;
    this.#reselect({});
  }

  /** @internal The mock's uplinks changed. */
  _uplinksChanged(): void {
    if (this.#sentFirst && !this.#ended) this.#reselect({});
  }

  /** @internal SetStatisticsInterval(seconds > 0): replaces the watch; returns its token. */
  _watchStatistics(seconds: number, listener: (statistics: SessionStatistics) => void): object {
    this.#statsWatch = { seconds, listener };
    return this.#statsWatch;
  }

  /** @internal Ends the watch `token` if it is still the current one (true when it was). */
  _unwatchStatistics(token: object): boolean {
    if (this.#statsWatch !== token) return false;
    this.#statsWatch = null;
    return true;
  }

  /** @internal Destroyed by the client. */
  _destroy(): void {
    this.#ended = true;
    this.#statsWatch = null;
  }

  /** @internal Lost with the daemon or the transport. */
  _lose(error: NetsessionError): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#statsWatch = null;
    this.#notifier.lost(error);
  }

  // ------------------------------------------------------------------ internals

  #selected(): UplinkGroup {
    if (!this.#active) return { ...NO_UPLINK };
    if (this.#scripted) return this.#scripted;
    const s = this.#settings as SessionSettings;
    const u = selectUplink(s, this.#uplinks(), this.#avoidMetered);
    return u ? uplinkGroup(u) : { ...NO_UPLINK };
  }

  #reselect(forced: Partial<SessionSettings>): void {
    if (!this.#sentFirst || this.#ended) return;
    const group = this.#selected();
    const changed = { ...settingsChanged(this.#settings, group), ...forced };
    // ConnMan sends the uplink keys as a group when the uplink changes.
    if (changed.Interface !== undefined || changed.Name !== undefined) Object.assign(changed, group);
    if (Object.keys(changed).length === 0) return;
    this.#settings = { ...this.#settings, ...group };
    this.#notifier.update(changed);
  }

  #script(group: UplinkGroup): void {
    this.#assertLive('script');
    if (!this.#sentFirst)
      throw new TypeError('MockSession: send the first Update (all keys) before scripting the uplink');
    this.#scripted = group;
    this.#reselect({});
  }

  #send(changes: Partial<SessionSettings>): void {
    this.#sentFirst = true;
    this.#settings = { ...this.#settings, ...changes };
    this.#notifier.update(changes);
  }

  #assertLive(what: string): void {
    if (this.#ended) throw new TypeError(`MockSession.${what}: the session at ${this.path} has ended`);
  }
}
