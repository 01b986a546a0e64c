import {
  type Bearer,
  type CreateSessionOptions,
  createSession,
  DBusTransport,
  getDefaultTransport,
  MockTransport,
  type NetsessionError,
  Session,
  type SessionClosedReason,
  type SessionInfo,
  type SessionOptions,
  type SessionState,
  type SessionStatistics,
  type SessionUpdate,
  setDefaultTransport,
  type Transport,
  type WaitCondition,
} from 'netsession';
import { expectAssignable, expectError, expectNotAssignable, expectType } from 'tsd';

// createSession: options are typed; a wrong bearer or an unknown option is a type error.
expectType<Promise<Session>>(createSession());
expectType<Promise<Session>>(
  createSession({ allowedBearers: ['cellular', '*'], connectionType: 'internet', sourceIPRule: true }),
);
expectType<Promise<Session>>(
  createSession({
    allowedInterface: 'wwan0',
    contextIdentifier: 'x',
    signal: AbortSignal.timeout(1000),
    timeout: 5000,
  }),
);
expectType<Promise<Session>>(createSession({ transport: new MockTransport() }));
expectType<Promise<Session>>(
  createSession({
    transport: new DBusTransport({ busAddress: 'unix:path=/x', busName: 'net.connman', callTimeout: 1000 }),
  }),
);
expectType<DBusTransport>(new DBusTransport({ peer: false }));
expectError(new DBusTransport({ peer: 'no' }));
expectError(createSession({ allowedBearers: ['lte'] }));
expectError(createSession({ connectionType: 'online' }));
expectError(createSession({ allowedBearer: ['wifi'] }));
expectError(createSession({ sourceIPRule: 'yes' }));
expectNotAssignable<SessionOptions>({ state: 'online' });
expectAssignable<CreateSessionOptions>({ allowedBearers: ['wifi'] as const });

declare const s: Session;

// Current values.
expectType<SessionState>(s.state);
expectType<string | null>(s.interface);
expectType<Bearer | null>(s.bearer);
expectType<string | undefined>(s.ipv4?.address);
expectType<number | undefined>(s.ipv6?.prefixLength);
expectType<SessionInfo>(s.settings);
expectType<readonly Bearer[]>(s.settings.allowedBearers);
expectType<string>(s.path);
expectType<boolean>(s.destroyed);
expectError((s.settings.state = 'online'));

// Events: names and payloads are checked.
s.on('update', (u) => expectType<SessionUpdate>(u));
s.on('state', (state, previous) => {
  expectType<SessionState>(state);
  expectType<SessionState>(previous);
});
s.on('interface', (name, previous) => {
  expectType<string | null>(name);
  expectType<string | null>(previous);
});
s.on('online', () => undefined);
s.on('offline', () => undefined);
s.on('destroyed', (err, reason) => {
  expectType<NetsessionError | null>(err);
  expectType<SessionClosedReason>(reason);
});
s.on('error', (err) => expectType<NetsessionError>(err));
s.on('statistics', (st) => {
  expectType<SessionStatistics>(st);
  expectType<bigint>(st.rxBytes);
});
expectError(s.on('statistics', (st: number) => st));
expectError(s.on('moved', () => undefined));
expectError(s.on('state', (state: number) => state));
expectError(s.emit('online', 1));

// Methods.
expectType<Promise<void>>(s.connect());
expectType<Promise<void>>(s.disconnect());
expectType<Promise<void>>(s.change({ allowedBearers: ['wifi'] }));
expectError(s.change({ allowedBearers: ['wimax'] }));
expectError(s.change({ bogus: true }));
expectType<Promise<void>>(s.destroy());
expectType<Promise<void>>(s[Symbol.asyncDispose]());
expectType<Promise<SessionStatistics>>(s.statistics());
expectType<bigint>((await s.statistics()).rxBytes);
expectType<Session>(s.setStatisticsInterval(5000));
expectError(s.setStatisticsInterval('5s'));
expectType<Session>(s.removeAllListeners());
expectType<Session>(s.removeAllListeners('statistics'));
expectType<AsyncIterableIterator<SessionUpdate>>(s.updates({ signal: new AbortController().signal }));

// waitFor: named conditions, predicates, type guards.
expectType<Promise<SessionInfo>>(s.waitFor('online'));
expectType<Promise<SessionInfo>>(s.waitFor('connected', { timeout: 1000 }));
expectType<Promise<SessionInfo>>(s.waitFor('disconnected', { signal: AbortSignal.timeout(1) }));
expectType<Promise<SessionInfo>>(s.waitFor((i) => i.bearer === 'cellular'));
type OnCell = SessionInfo & { bearer: 'cellular' };
expectType<Promise<OnCell>>(s.waitFor((i): i is OnCell => i.bearer === 'cellular'));
expectError(s.waitFor('ready'));
expectError(s.waitFor('online', { timeout: '1s' }));
expectAssignable<WaitCondition>('connected');

// The default transport.
expectType<Transport>(getDefaultTransport());
expectType<void>(setDefaultTransport(new MockTransport()));
expectError(setDefaultTransport({}));

// Sessions come from createSession only (tsd cannot expectError a private constructor).
// @ts-expect-error -- private constructor
new Session();

// The uplink's properties, their events, persistence and avoidMetered.
expectType<readonly string[]>(s.settings.nameservers);
expectType<boolean | null>(s.settings.metered);
expectType<boolean | null>(s.settings.roaming);
expectType<boolean | null>(s.settings.captivePortal);
expectType<string | null>(s.settings.portalUrl);
s.on('nameservers', (ns) => expectType<readonly string[]>(ns));
s.on('metered', (m) => expectType<boolean | null>(m));
s.on('captivePortal', (portal, url) => {
  expectType<boolean | null>(portal);
  expectType<string | null>(url);
});
s.on('daemon-lost', (err) => expectType<NetsessionError>(err));
s.on('daemon-restored', () => undefined);
expectError(s.on('daemon-lost', (err: string) => err));
expectAssignable<CreateSessionOptions>({ persistent: true, avoidMetered: true });
expectAssignable<CreateSessionOptions>({ persistent: { signal: AbortSignal.timeout(1_000), maxRetryDelay: 500 } });
expectNotAssignable<CreateSessionOptions>({ persistent: { retries: 3 } });
expectNotAssignable<SessionOptions>({ avoidMetered: 'yes' });
