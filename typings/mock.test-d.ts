import {
  createSession,
  type MockCall,
  type MockMethod,
  MockSession,
  MockTransport,
  type MockUplink,
  type SessionSettings,
  type Transport,
} from 'netsession';
import { expectAssignable, expectError, expectType } from 'tsd';

const mock = new MockTransport({
  uplinks: [{ interface: 'wwan0', bearer: 'cellular', ipv4: '198.51.100.7', state: 'connected' }],
  capabilities: null,
  autoUpdate: false,
});
expectAssignable<Transport>(mock);
expectError(new MockTransport({ uplinks: [{ interface: 'wwan0', bearer: 'lte' }] }));
expectError(new MockTransport({ bogus: true }));

expectType<MockCall[]>(mock.calls);
expectType<MockMethod>(mock.calls[0]!.method);
expectType<MockSession[]>(mock.sessions);
expectType<MockSession>(mock.lastSession());
expectType<MockSession>(mock.sessionFor(await createSession({ transport: mock })));
expectType<void>(mock.setUplinks([{ interface: 'eth0', bearer: 'ethernet' }]));
expectType<void>(mock.failNext('Change', 'net.connman.Error.InvalidArguments'));
expectError(mock.failNext('Frobnicate'));
expectType<void>(mock.stopDaemon({ release: true }));
expectType<void>(mock.startDaemon());

const m = mock.lastSession();
expectType<void>(
  m.update({ State: 'online', Interface: 'wwan0', Bearer: 'cellular', IPv4: { Address: '198.51.100.7' } }),
);
expectError(m.update({ State: 'ready' }));
expectError(m.update({ Bogus: 1 }));
expectType<void>(m.goOnline({ interface: 'wwan0', bearer: 'cellular', ipv4: '198.51.100.7/24' }));
expectType<void>(m.goConnected({ interface: 'wlan0', bearer: 'wifi' }));
expectType<void>(m.goOffline());
expectType<void>(m.release());
expectType<Readonly<Partial<SessionSettings>>>(m.settings);
expectType<boolean>(m.destroyed);
m.statistics = { rxBytes: 1n, txBytes: 2n, rxPackets: 3n, txPackets: 4n };
expectType<number | null>(m.statisticsInterval);
expectType<boolean>(m.emitStatistics({ rxBytes: 1500n }));
expectType<boolean>(m.emitStatistics());
expectError(m.emitStatistics({ rxBytes: 1500 }));
expectType<void>(mock.failNext('SetStatisticsInterval', 'net.connman.Error.NotSupported'));
expectAssignable<MockUplink>({ interface: 'usb0', bearer: 'gadget' });
// Only the MockTransport makes MockSessions (tsd cannot expectError a private constructor).
// @ts-expect-error -- private constructor
new MockSession();

// Scripting the uplink's properties and a policy.
new MockTransport({
  uplinks: [
    {
      interface: 'wwan0',
      bearer: 'cellular',
      nameservers: ['203.0.113.1'],
      metered: true,
      roaming: false,
      captivePortal: true,
      portalUrl: 'http://portal.example/',
    },
  ],
  policy: { group: 'kiosk.policy:policy_kiosk', allowedBearers: ['wifi'] },
});
expectError(new MockTransport({ policy: { group: 'x', allowedBearers: ['wimax'] } }));
