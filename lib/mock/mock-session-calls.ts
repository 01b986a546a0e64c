/**
 * The session role of {@link MockTransport}: CreateSession, `net.connman.Session`'s methods and
 * netsessiond's per-session extensions, answered by the mock daemon as netsessiond would.
 */
import type { NetsessionError } from '../errors.js';
import { errorName, type RequestKey, STATISTICS_INTERVAL_LIMITS, sessionPath } from '../protocol.js';
import { BUS_ERROR } from '../reply-errors.js';
import type { SessionNotifier, SessionRequest, SessionStatistics, TransportSession } from '../transport.js';
import type { MockDaemon } from './mock-daemon.js';
import { MockRejection, MockSession } from './mock-session.js';

/** ClaimCgroup's path rule, as netsessiond applies it: absolute and normalised, not the root. */
function isCgroupPath(p: string): boolean {
  return /^(\/[^/]+)+$/.test(p) && !p.split('/').some((x) => x === '.' || x === '..') && !/["\\\x00-\x1f\x7f]/.test(p);
}

export function createSession(
  d: MockDaemon,
  settings: SessionRequest,
  notifier: SessionNotifier,
): Promise<TransportSession> {
  return d.run('CreateSession', null, [structuredClone(settings)], () => {
    // Like connmand, a daemon without the extension refuses the unknown key.
    if (settings.AvoidMetered !== undefined && !d.capabilities?.includes('AvoidMetered')) {
      throw d.error('CreateSession', errorName('InvalidArguments'), 'unknown setting AvoidMetered');
    }
    const path = sessionPath(':1.1', `/netsession/mock/s${++d.serial}`);
    const s = MockSession._create(path, settings, notifier, () => d.enabledUplinks(), d.policy?.allowedBearers ?? null);
    d.sessions.push(s);
    if (d.autoUpdate) queueMicrotask(() => s._start());
    return handle(d, s);
  });
}

function handle(d: MockDaemon, s: MockSession): TransportSession {
  return {
    path: s.path,
    change: (key: RequestKey, value: unknown) =>
      d.run('Change', s.path, [key, structuredClone(value)], () => {
        if (key === 'AvoidMetered' && !d.capabilities?.includes('AvoidMetered'))
          throw d.error('Change', errorName('InvalidArguments'), 'unknown setting AvoidMetered');
        try {
          d.live('Change', s.path)._change(key, value);
        } catch (err) {
          if (err instanceof MockRejection) throw d.error('Change', errorName('InvalidArguments'), err.message);
          throw err;
        }
      }),
    connect: () => d.run('Connect', s.path, [], () => d.live('Connect', s.path)._setActive(true)),
    disconnect: () => d.run('Disconnect', s.path, [], () => d.live('Disconnect', s.path)._setActive(false)),
    destroy: () => {
      // Like the D-Bus transport: the notifier stops at once, whatever the daemon answers.
      const live = !s.destroyed;
      s._destroy();
      return d.run('Destroy', s.path, [], () => {
        if (!live) throw d.error('Destroy', BUS_ERROR.unknownObject, `no session at ${s.path}`);
      });
    },
  };
}

export function capabilities(d: MockDaemon): Promise<readonly string[]> {
  return d
    .run('GetCapabilities', null, [], () => {
      if (d.capabilities === null)
        throw d.error('GetCapabilities', BUS_ERROR.unknownMethod, 'no org.netsession.Manager1 here');
      return [...d.capabilities];
    })
    .catch((err: unknown) => {
      if ((err as NetsessionError).code === 'NS_ERR_EXTENSION_NOT_SUPPORTED') return [];
      throw err;
    });
}

export function statistics(d: MockDaemon, path: string): Promise<SessionStatistics> {
  return d.run('GetStatistics', path, [], () => {
    if (d.capabilities === null || !d.capabilities.includes('Statistics'))
      throw d.error('GetStatistics', BUS_ERROR.unknownMethod, 'no statistics here');
    return { ...d.live('GetStatistics', path).statistics };
  });
}

export function sessionPolicy(d: MockDaemon, path: string): Promise<string | null> {
  return d.run('GetPolicy', path, [], () => {
    d.extension('GetPolicy', 'Policy');
    d.live('GetPolicy', path);
    return d.policy?.group ?? null;
  });
}

export function claimCgroup(d: MockDaemon, path: string, cgroup: string): Promise<void> {
  return d.run('ClaimCgroup', path, [cgroup], () => {
    d.extension('ClaimCgroup', 'ClaimCgroup');
    const s = d.live('ClaimCgroup', path);
    if (!isCgroupPath(cgroup))
      throw d.error(
        'ClaimCgroup',
        errorName('InvalidArguments'),
        `'${cgroup}' is not an absolute, normalised cgroup path`,
      );
    if (!s.cgroups.includes(cgroup)) s.cgroups.push(cgroup);
  });
}

export function watchStatistics(
  d: MockDaemon,
  path: string,
  seconds: number,
  listener: (statistics: SessionStatistics) => void,
): Promise<() => Promise<void>> {
  return d.run('SetStatisticsInterval', path, [seconds], () => {
    d.extension('SetStatisticsInterval', 'StatisticsSignal');
    const s = d.live('SetStatisticsInterval', path);
    const { min, max } = STATISTICS_INTERVAL_LIMITS;
    if (!Number.isInteger(seconds) || seconds < min || seconds > max) {
      throw d.error(
        'SetStatisticsInterval',
        errorName('InvalidArguments'),
        `statistics interval must be 0 (stop) or ${min} to ${max} seconds, got ${seconds}`,
      );
    }
    const token = s._watchStatistics(seconds, listener);
    return () => {
      if (!s._unwatchStatistics(token) || s.destroyed) return Promise.resolve();
      // Recorded like the real call; its outcome does not matter to the caller (never rejects).
      return d.run('SetStatisticsInterval', path, [0], () => undefined).catch(() => undefined);
    };
  });
}
