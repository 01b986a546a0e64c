/**
 * The `org.netsession.Session1.Statistics` signal as it leaves the adapter (through the wire
 * module's marshaller and parser), and the extension table that serves SetStatisticsInterval and
 * describes the signal in introspection.
 */
import { describe, expect, it } from 'vitest';
import type { DBusMessage } from '../../../../../daemon/adapters/dbus/connection.js';
import { sessionExtension } from '../../../../../daemon/adapters/dbus/extension.js';
import type { MethodCall } from '../../../../../daemon/adapters/dbus/interface-spec.js';
import { introspectXml } from '../../../../../daemon/adapters/dbus/introspect.js';
import { ObjectTable } from '../../../../../daemon/adapters/dbus/objects.js';
import { UpdateGate } from '../../../../../daemon/adapters/dbus/update-gate.js';
import type { BusCaller, DaemonApi } from '../../../../../daemon/api.js';
import { statisticsProps } from '../../../../../daemon/core/statistics-schedule.js';
import { marshallMessage } from '../../../../../lib/dbus/marshall.js';
import { MessageType, type Variant } from '../../../../../lib/dbus/message.js';
import { unmarshallMessage } from '../../../../../lib/dbus/unmarshall.js';
import { NETSESSION_INTERFACE, STATISTICS_KEYS } from '../../../../../lib/protocol.js';
import { recordingBusEvents } from '../../../../fakes/bus-events.js';

type Var = Variant;

function throughWire(msg: DBusMessage) {
  return unmarshallMessage(marshallMessage(msg, 11));
}

const ROOT: BusCaller = { sender: ':1.5', uid: 0, gids: [0], pid: undefined };

describe('Statistics signal', () => {
  it('is a unicast signal to the subscriber, from the session path, a{sv} with t values', () => {
    const { ev, sent } = recordingBusEvents();
    ev.sessionStatistics(
      ':1.42',
      '/sessions/_1_42/app',
      statisticsProps({ rxBytes: 2n ** 40n + 1n, txBytes: 12n, rxPackets: 3n, txPackets: 4n }),
    );
    expect(sent).toHaveLength(1);
    const msg = throughWire(sent[0]!);
    expect(msg).toMatchObject({
      type: MessageType.SIGNAL,
      destination: ':1.42',
      path: '/sessions/_1_42/app',
      interface: NETSESSION_INTERFACE,
      member: 'Statistics',
      signature: 'a{sv}',
    });
    const dict = msg.body[0] as Record<string, Var>;
    expect(Object.keys(dict)).toEqual(Object.values(STATISTICS_KEYS));
    expect(Object.values(dict).map((v) => v.signature)).toEqual(['t', 't', 't', 't']);
    expect(dict['RX.Bytes']!.value).toBe(2n ** 40n + 1n);
  });

  it('SetStatisticsInterval(u) reaches the api with the caller and the seconds; the signal is introspected', async () => {
    const calls: unknown[][] = [];
    const api = {
      setStatisticsInterval: (caller: BusCaller, path: string, seconds: number) =>
        void calls.push([caller.sender, path, seconds]),
    } as unknown as DaemonApi;
    const spec = sessionExtension({
      api: () => api,
      objects: new ObjectTable(),
      gate: new UpdateGate<DBusMessage>(),
      emit: () => {},
      peerAddress: () => null,
      log: () => {},
    });
    const method = spec.methods.SetStatisticsInterval!;
    expect([method.in, method.out]).toEqual(['u', '']);
    const call: MethodCall = {
      sender: ':1.5',
      path: '/sessions/_1_5/a',
      args: [5],
      withCaller: (fn) => fn(ROOT),
      afterReply: () => {},
    };
    expect(await method.handle(call)).toEqual([]);
    expect(calls).toEqual([[':1.5', '/sessions/_1_5/a', 5]]);
    const xml = introspectXml([spec], []);
    expect(xml).toContain(
      '<method name="SetStatisticsInterval"><arg name="seconds" type="u" direction="in"/></method>',
    );
    expect(xml).toContain('<signal name="Statistics"><arg name="statistics" type="a{sv}"/></signal>');
  });
});
