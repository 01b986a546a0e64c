/**
 * dbus-next 0.10.2 (kept as a devDependency: the tests' independent D-Bus client) swaps the
 * arguments of `hasOwnProperty.call` in `_addMatch`/`_removeMatch`: every proxy subscription sends
 * AddMatch and no unsubscription ever sends RemoveMatch, so a long-lived client runs into
 * `max_match_rules_per_connection` (upstream PR #110, unmerged). Test clients that use proxies
 * apply this fix to the shared prototype. Idempotent.
 */
import dbus from 'dbus-next';

type MessageBus = ReturnType<typeof dbus.sessionBus>;
type DBusMessage = InstanceType<typeof dbus.Message>;

const PATCHED = Symbol.for('netsession.dbus-next.matchRulesPatched');

function busCall(member: string, signature: string, body: unknown[]): DBusMessage {
  return new dbus.Message({
    destination: 'org.freedesktop.DBus',
    path: '/org/freedesktop/DBus',
    interface: 'org.freedesktop.DBus',
    member,
    signature,
    body,
  });
}

export function patchMatchRuleLeak(bus: MessageBus): void {
  const proto = Object.getPrototypeOf(bus) as Record<PropertyKey, unknown>;
  if (proto[PATCHED]) return;
  type Internals = {
    _matchRules: Record<string, number>;
    _connection: { stream: { writable: boolean } };
    call(m: DBusMessage): Promise<unknown>;
  };
  const own = (o: object, k: string) => Object.hasOwn(o, k);
  proto._addMatch = function (this: Internals, match: string) {
    if (own(this._matchRules, match)) {
      this._matchRules[match]! += 1;
      return Promise.resolve();
    }
    this._matchRules[match] = 1;
    return this.call(busCall('AddMatch', 's', [match]));
  };
  proto._removeMatch = function (this: Internals, match: string) {
    if (!this._connection.stream.writable || !own(this._matchRules, match)) return Promise.resolve();
    this._matchRules[match]! -= 1;
    if (this._matchRules[match]! > 0) return Promise.resolve();
    delete this._matchRules[match];
    return this.call(busCall('RemoveMatch', 's', [match]));
  };
  proto[PATCHED] = true;
}
