/**
 * The Counter calls of the BusEvents port (Usage, Release) as they leave the adapter, and through
 * the wire module's marshaller and parser: ConnMan's signature `oa{sv}a{sv}`, every value a `u`.
 */
import { describe, expect, it } from 'vitest';
import type { DBusMessage } from '../../../../../daemon/adapters/dbus/connection.js';
import { COUNTER_KEYS, CounterTable } from '../../../../../daemon/core/counters.js';
import { marshallMessage } from '../../../../../lib/dbus/marshall.js';
import { MessageFlag, type Variant } from '../../../../../lib/dbus/message.js';
import { unmarshallMessage } from '../../../../../lib/dbus/unmarshall.js';
import { INTERFACES } from '../../../../../lib/protocol.js';
import { recordingBusEvents } from '../../../../fakes/bus-events.js';

type Var = Variant;

const events = recordingBusEvents;

function throughWire(msg: DBusMessage) {
  return unmarshallMessage(marshallMessage(msg, 7));
}

describe('Counter.Usage / Counter.Release on the wire', () => {
  it('sends the first Usage of a CounterTable as oa{sv}a{sv} with u values, no reply expected', () => {
    const table = new CounterTable();
    const reg = table.register(':1.5', '/app/counter', 0, 1);
    table.sample(
      'ethernet_x_cable',
      3,
      {
        rxPackets: 1n,
        txPackets: 2n,
        rxBytes: 3n,
        txBytes: 4n,
        rxErrors: 0n,
        txErrors: 0n,
        rxDropped: 0n,
        txDropped: 0n,
      },
      0,
    );
    table.sample(
      'ethernet_x_cable',
      3,
      {
        rxPackets: 2n,
        txPackets: 2n,
        rxBytes: 2n ** 32n + 10n,
        txBytes: 4n,
        rxErrors: 0n,
        txErrors: 0n,
        rxDropped: 0n,
        txDropped: 0n,
      },
      2500,
    );
    const usage = table.usage(reg, 'ethernet_x_cable', 2500)!;
    const { ev, sent } = events();
    ev.counterUsage(reg.owner, reg.path, '/net/connman/service/ethernet_x_cable', usage.home, usage.roaming);
    expect(sent).toHaveLength(1);
    const msg = throughWire(sent[0]!);
    expect(msg).toMatchObject({
      destination: ':1.5',
      path: '/app/counter',
      interface: INTERFACES.counter,
      member: 'Usage',
      signature: 'oa{sv}a{sv}',
    });
    expect(msg.flags & MessageFlag.NO_REPLY_EXPECTED).toBeTruthy();
    const [service, home, roaming] = msg.body as [string, Record<string, Var>, Record<string, Var>];
    expect(service).toBe('/net/connman/service/ethernet_x_cable');
    expect(Object.keys(home)).toEqual([...COUNTER_KEYS]);
    expect(Object.values(home).map((v) => v.signature)).toEqual(COUNTER_KEYS.map(() => 'u'));
    // 2^32 + 7 bytes received: the u wraps.
    expect(Object.fromEntries(Object.entries(home).map(([k, v]) => [k, v.value]))).toEqual({
      'RX.Packets': 1,
      'TX.Packets': 0,
      'RX.Bytes': 7,
      'TX.Bytes': 0,
      'RX.Errors': 0,
      'TX.Errors': 0,
      'RX.Dropped': 0,
      'TX.Dropped': 0,
      Time: 2,
    });
    expect(Object.keys(roaming)).toEqual([...COUNTER_KEYS]);
  });

  it('a later Usage with an empty roaming dict still marshals as a{sv}', () => {
    const { ev, sent } = events();
    ev.counterUsage(':1.5', '/c', '/net/connman/service/s', { 'RX.Bytes': { signature: 'u', value: 10 } }, {});
    const msg = throughWire(sent[0]!);
    expect(msg.signature).toBe('oa{sv}a{sv}');
    const [, home, roaming] = msg.body as [string, Record<string, Var>, Record<string, Var>];
    expect(Object.keys(home)).toEqual(['RX.Bytes']);
    expect(roaming).toEqual({});
  });

  it('Release is an argument-less call on the counter object, no reply expected', () => {
    const { ev, sent } = events();
    ev.counterRelease(':1.9', '/app/counter');
    const msg = sent[0]!;
    expect(msg).toMatchObject({
      destination: ':1.9',
      path: '/app/counter',
      interface: INTERFACES.counter,
      member: 'Release',
      signature: '',
      body: [],
    });
    expect(msg.flags & MessageFlag.NO_REPLY_EXPECTED).toBeTruthy();
    expect(throughWire(msg)).toMatchObject({ member: 'Release', signature: '', body: [] });
  });

  it('a value that does not fit its signature is logged, not thrown at the caller', () => {
    const { ev, sent, logs } = events();
    ev.counterUsage(':1.5', '/c', '/net/connman/service/s', { 'RX.Bytes': { signature: 'a{sv}', value: 3 } }, {});
    expect(sent).toEqual([]);
    expect(logs.some((l) => l.includes('Usage for :1.5/c'))).toBe(true);
  });
});
