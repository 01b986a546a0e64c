import {
  type Bearer,
  MockTransport,
  monitorUplinks,
  type NetsessionError,
  type ServiceInfo,
  type Session,
  type UplinkMonitor,
  type UplinkResult,
  type UplinkStatus,
} from 'netsession';
import { expectError, expectType } from 'tsd';

const m = monitorUplinks({
  target: 'https://example.org/health',
  interval: 2000,
  timeout: 1000,
  window: 20,
  signal: AbortSignal.timeout(60_000),
  transport: new MockTransport(),
});
expectType<UplinkMonitor>(m);
expectType<UplinkMonitor>(monitorUplinks({ target: 'example.org:443', probe: 'tcp' }));
expectType<UplinkMonitor>(
  monitorUplinks({
    probe: async (session, signal) => {
      expectType<Session>(session);
      expectType<AbortSignal>(signal);
    },
    filter: (service) => service.bearer !== 'cellular',
  }),
);
expectError(monitorUplinks({ target: 'example.org:443', probe: 'icmp' }));
expectError(monitorUplinks({ target: 'example.org:443', interval: '5s' }));
expectError(monitorUplinks({ target: 'example.org:443', probe: (_session: Session) => true }));

// Events: names and payloads are checked.
m.on('result', (r) => {
  expectType<UplinkResult>(r);
  expectType<string>(r.interface);
  expectType<Bearer | null>(r.bearer);
  expectType<boolean>(r.reachable);
  expectType<number | null>(r.rttMs);
  expectType<number>(r.lossRatio);
  expectType<NetsessionError | null>(r.error);
});
m.on('up', (r) => expectType<UplinkResult>(r));
m.on('down', (r) => expectType<UplinkResult>(r));
m.on('added', (s) => expectType<ServiceInfo>(s));
m.on('removed', (s) => expectType<string | null>(s.interface));
m.on('error', (e) => expectType<NetsessionError>(e));
m.on('close', () => undefined);
expectError(m.on('lost', () => undefined));
expectError(m.on('up', (r: string) => r));
expectError(m.emit('close', 1));

expectType<ReadonlyMap<string, UplinkStatus>>(m.uplinks);
expectType<boolean | null>(m.uplinks.get('eth0')!.reachable);
expectType<Promise<void>>(m.close());
expectType<boolean>(m.closed);
