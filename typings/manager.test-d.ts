import {
  createSession,
  DBusTransport,
  getManager,
  type IPv4Info,
  type IPv6Info,
  type Manager,
  type ManagerProperties,
  type ManagerState,
  MockTransport,
  type SessionInfo,
  type SessionStatistics,
  type TechnologyInfo,
} from 'netsession';
import { expectError, expectType } from 'tsd';

const m = getManager(new DBusTransport({ busAddress: 'unix:path=/run/test/bus' }));
expectType<Manager>(m);
expectType<Manager>(getManager());
expectType<Manager>(getManager(new MockTransport({ uid: 1000 })));

expectType<Promise<ManagerProperties>>(m.properties());
expectType<ManagerState>((await m.properties()).state);
expectType<Promise<void>>(m.setOfflineMode(true));
expectError(m.setOfflineMode('on'));
expectType<Promise<readonly TechnologyInfo[]>>(m.technologies());
const [service] = await m.services();
if (service) {
  expectType<IPv4Info | null>(service.ipv4);
  expectType<IPv6Info | null>(service.ipv6);
  expectType<string | undefined>(service.ipv4?.gateway);
}
expectType<Promise<void>>(m.setPowered('wifi', false));
expectError(m.setPowered('wifi'));

const [entry] = await m.sessions();
if (entry) {
  expectType<SessionInfo>(entry.settings);
  expectType<bigint | null>(entry.rxBytes);
  expectType<readonly string[]>(entry.cgroups);
  expectError((entry.uid = 3));
}
expectType<Promise<SessionStatistics>>(m.statistics('/sessions/_1_5/n'));

const s = await createSession({ transport: new MockTransport() });
expectType<Promise<void>>(s.claimCgroup('/netsession.run/42'));
expectError(s.claimCgroup());
