import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../../daemon/core/errors.js';
import type { OnlineCheckResult } from '../../../../daemon/core/online-schedule.js';
import {
  type CheckAction,
  type CheckState,
  DEFAULT_ONLINE_CHECK_SETTINGS,
  delaySeconds,
  initialCheckState,
  type OnlineCheckSettings,
  onConnected,
  onDisconnected,
  onResult,
  validateOnlineCheckSettings,
} from '../../../../daemon/core/online-schedule.js';

const OK: OnlineCheckResult = { kind: 'online' };
const FAIL: OnlineCheckResult = { kind: 'failure', reason: 'timeout' };
const PORTAL: OnlineCheckResult = { kind: 'portal', location: 'http://portal.example/login' };

function settings(over: Partial<OnlineCheckSettings> = {}): OnlineCheckSettings {
  return { ...DEFAULT_ONLINE_CHECK_SETTINGS, ...over };
}

function delayOf(action: CheckAction): number | 'stop' {
  return action.kind === 'stop' ? 'stop' : action.delayMs;
}

/** Connects, then feeds results; returns every step's outcome. */
function run(s: OnlineCheckSettings, results: OnlineCheckResult[]) {
  const first = onConnected(s, initialCheckState());
  let state: CheckState = first.state;
  const steps: Array<{ online: boolean; portal: string | null; delay: number | 'stop'; state: CheckState }> = [];
  for (const r of results) {
    const out = onResult(s, state, r);
    state = out.state;
    steps.push({ online: out.online, portal: out.portal, delay: delayOf(out.action), state });
  }
  return { first, steps, state };
}

describe('delaySeconds', () => {
  it('geometric is n squared, 1 to 144 over the default intervals', () => {
    expect(Array.from({ length: 12 }, (_, i) => delaySeconds('geometric', i + 1))).toEqual([
      1, 4, 9, 16, 25, 36, 49, 64, 81, 100, 121, 144,
    ]);
  });
  it('fibonacci is Fib(n), 1 1 2 3 ... 144 over the default intervals', () => {
    expect(Array.from({ length: 12 }, (_, i) => delaySeconds('fibonacci', i + 1))).toEqual([
      1, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144,
    ]);
  });
});

describe('validateOnlineCheckSettings', () => {
  it('fills defaults (ConnMan main.c values)', () => {
    expect(validateOnlineCheckSettings({})).toEqual({
      mode: 'one-shot',
      initialInterval: 1,
      maxInterval: 12,
      intervalStyle: 'geometric',
      failuresThreshold: 6,
      successesThreshold: 6,
      connectTimeoutMs: 0,
    });
  });
  it('keeps given values', () => {
    const s = validateOnlineCheckSettings({
      mode: 'continuous',
      intervalStyle: 'fibonacci',
      maxInterval: 20,
      connectTimeoutMs: 2500,
    });
    expect(s).toMatchObject({
      mode: 'continuous',
      intervalStyle: 'fibonacci',
      maxInterval: 20,
      connectTimeoutMs: 2500,
    });
  });
  it.each([
    [{ mode: 'always' }],
    [{ intervalStyle: 'linear' }],
    [{ initialInterval: 0 }],
    [{ initialInterval: 1.5 }],
    [{ initialInterval: 13 }],
    [{ maxInterval: '12' }],
    [{ failuresThreshold: 0 }],
    [{ successesThreshold: -1 }],
    [{ connectTimeoutMs: -5 }],
    [{ connectTimeoutMs: Number.NaN }],
    [{ intervalStyle: 'fibonacci', maxInterval: 60 }],
    [{ maxInterval: 5000 }],
    [{ bogus: 1 } as Record<string, unknown>],
  ])('rejects %j with ConfigError', (bad) => {
    expect(() => validateOnlineCheckSettings(bad)).toThrow(ConfigError);
  });
});

describe('mode none', () => {
  it('never probes and never goes online, even if a result shows up', () => {
    const s = settings({ mode: 'none' });
    const c = onConnected(s, initialCheckState());
    expect(c.action).toEqual({ kind: 'stop' });
    expect(c.online).toBe(false);
    const r = onResult(s, c.state, OK);
    expect(r.online).toBe(false);
    expect(r.action).toEqual({ kind: 'stop' });
  });
});

describe('one-shot', () => {
  it('probes at once on connect', () => {
    const c = onConnected(settings(), initialCheckState());
    expect(c.action).toEqual({ kind: 'probe-after', delayMs: 0 });
    expect(c.online).toBe(false);
  });

  it('goes online and stops on the first success', () => {
    const { steps } = run(settings(), [OK]);
    expect(steps[0]).toMatchObject({ online: true, portal: null, delay: 'stop' });
  });

  it('retries failures with growing delays, capped at the max interval, then stops on success', () => {
    const fails = Array.from({ length: 14 }, () => FAIL);
    const { steps } = run(settings(), [...fails, OK]);
    expect(steps.slice(0, 14).map((s) => s.delay)).toEqual(
      [1, 4, 9, 16, 25, 36, 49, 64, 81, 100, 121, 144, 144, 144].map((x) => x * 1000),
    );
    expect(steps.slice(0, 14).every((s) => !s.online)).toBe(true);
    expect(steps[14]).toMatchObject({ online: true, delay: 'stop' });
  });

  it('follows the fibonacci sequence from a later initial interval', () => {
    const { steps } = run(settings({ intervalStyle: 'fibonacci', initialInterval: 3, maxInterval: 6 }), [
      FAIL,
      FAIL,
      FAIL,
      FAIL,
      FAIL,
    ]);
    expect(steps.map((s) => s.delay)).toEqual([2, 3, 5, 8, 8].map((x) => x * 1000));
  });

  it('treats statuses ConnMan leaves hanging (any failure reason) as retryable', () => {
    const { steps } = run(settings(), [
      { kind: 'failure', reason: 'HTTP 204' },
      { kind: 'failure', reason: 'HTTP 500' },
    ]);
    expect(steps.map((s) => s.delay)).toEqual([1000, 4000]);
  });

  it('ignores a stale result after it stopped', () => {
    const { state } = run(settings(), [OK]);
    const late = onResult(settings(), state, FAIL);
    expect(late).toMatchObject({ online: true, action: { kind: 'stop' } });
    expect(late.state).toEqual(state);
  });
});

describe('portal', () => {
  it('one-shot: not online, reports the location, retries like a failure, clears on success', () => {
    const { steps } = run(settings(), [PORTAL, PORTAL, OK]);
    expect(steps[0]).toMatchObject({ online: false, portal: 'http://portal.example/login', delay: 1000 });
    expect(steps[1]).toMatchObject({ online: false, portal: 'http://portal.example/login', delay: 4000 });
    expect(steps[2]).toMatchObject({ online: true, portal: null, delay: 'stop' });
  });

  it('a portal without a location still reads as a portal', () => {
    const { steps } = run(settings(), [{ kind: 'portal' }]);
    expect(steps[0]?.portal).toBe('');
  });

  it('continuous: an online family goes offline at once on a portal reply', () => {
    const { steps } = run(settings({ mode: 'continuous' }), [OK, PORTAL]);
    expect(steps[0]?.online).toBe(true);
    expect(steps[1]).toMatchObject({ online: false, portal: 'http://portal.example/login', delay: 1000 });
    expect(steps[1]?.state.error).toBeNull();
  });
});

describe('continuous', () => {
  const s = settings({ mode: 'continuous', failuresThreshold: 3, successesThreshold: 2 });

  it('promotes on the first success and then checks at the max interval', () => {
    const { steps } = run(s, [OK, OK, OK]);
    expect(steps.map((x) => x.online)).toEqual([true, true, true]);
    expect(steps.map((x) => x.delay)).toEqual([144_000, 144_000, 144_000]);
  });

  it('a never-online family is promoted by its first success after many failures', () => {
    const { steps } = run(s, [FAIL, FAIL, FAIL, FAIL, OK]);
    expect(steps.slice(0, 4).every((x) => !x.online && x.state.error === null)).toBe(true);
    expect(steps[4]).toMatchObject({ online: true, delay: 144_000 });
  });

  it('the first failure after a success resets the interval; below the threshold the family stays online', () => {
    const { steps } = run(s, [OK, FAIL, FAIL]);
    expect(steps[1]).toMatchObject({ online: true, delay: 1000 });
    expect(steps[2]).toMatchObject({ online: true, delay: 4000 });
  });

  it('demotes after failuresThreshold consecutive failures and sets online-check-failed', () => {
    const { steps } = run(s, [OK, FAIL, FAIL, FAIL, FAIL]);
    expect(steps.map((x) => x.online)).toEqual([true, true, true, false, false]);
    expect(steps[3]?.state.error).toBe('online-check-failed');
    expect(steps.map((x) => x.delay)).toEqual([144, 1, 4, 9, 16].map((x) => x * 1000));
  });

  it('a success between failures breaks the run (failures must be consecutive)', () => {
    const { steps } = run(s, [OK, FAIL, FAIL, OK, FAIL, FAIL]);
    expect(steps.every((x) => x.online)).toBe(true);
    expect(steps.every((x) => x.state.error === null)).toBe(true);
  });

  it('recovers only after successesThreshold consecutive successes; a failure restarts the count', () => {
    const { steps } = run(s, [OK, FAIL, FAIL, FAIL, OK, FAIL, OK, OK]);
    expect(steps.map((x) => x.online)).toEqual([true, true, true, false, false, false, false, true]);
    expect(steps[6]?.state.error).toBe('online-check-failed');
    expect(steps[7]?.state.error).toBeNull();
    expect(steps[7]?.state.failures).toBe(0);
    expect(steps[7]?.delay).toBe(144_000);
  });

  it('a restart (address change) keeps the demotion until enough successes', () => {
    const { state } = run(s, [OK, FAIL, FAIL, FAIL]);
    const again = onConnected(s, state);
    expect(again.action).toEqual({ kind: 'probe-after', delayMs: 0 });
    const r1 = onResult(s, again.state, OK);
    expect(r1.online).toBe(false);
    const r2 = onResult(s, r1.state, OK);
    expect(r2.online).toBe(true);
  });
});

describe('disconnect', () => {
  it('resets everything and stops; a result arriving afterwards changes nothing', () => {
    const s = settings({ mode: 'continuous', failuresThreshold: 1 });
    const { state } = run(s, [OK, FAIL]);
    expect(state.error).toBe('online-check-failed');
    const d = onDisconnected(state);
    expect(d).toEqual({ state: initialCheckState(), online: false, action: { kind: 'stop' } });
    const late = onResult(s, d.state, OK);
    expect(late.online).toBe(false);
    expect(late.action).toEqual({ kind: 'stop' });
    const back = onConnected(s, d.state);
    expect(back.state.error).toBeNull();
    expect(onResult(s, back.state, OK).online).toBe(true);
  });
});

describe('properties', () => {
  const settingsArb = fc
    .record({
      mode: fc.constantFrom('one-shot' as const, 'continuous' as const),
      intervalStyle: fc.constantFrom('geometric' as const, 'fibonacci' as const),
      initialInterval: fc.integer({ min: 1, max: 10 }),
      extra: fc.integer({ min: 0, max: 10 }),
      failuresThreshold: fc.integer({ min: 1, max: 8 }),
      successesThreshold: fc.integer({ min: 1, max: 8 }),
    })
    .map(({ extra, ...r }) => validateOnlineCheckSettings({ ...r, maxInterval: r.initialInterval + extra }));
  const resultArb = fc.constantFrom<OnlineCheckResult>(OK, FAIL, PORTAL);

  it('no delay exceeds delaySeconds(style, maxInterval), and one-shot delays never shrink during a failure run', () => {
    fc.assert(
      fc.property(settingsArb, fc.array(resultArb, { maxLength: 40 }), (s, results) => {
        const cap = delaySeconds(s.intervalStyle, s.maxInterval) * 1000;
        let state = onConnected(s, initialCheckState()).state;
        let last = -1;
        for (const r of results) {
          const waiting = state.pending;
          const out = onResult(s, state, r);
          state = out.state;
          if (out.action.kind === 'probe-after') {
            expect(out.action.delayMs).toBeLessThanOrEqual(cap);
            expect(out.action.delayMs).toBeGreaterThanOrEqual(1000);
            if (s.mode === 'one-shot') {
              expect(out.action.delayMs).toBeGreaterThanOrEqual(last);
              last = out.action.delayMs;
            }
          } else {
            // Only a one-shot success stops a connected family; later results are stale.
            expect(s.mode === 'one-shot' && (r.kind === 'online' || !waiting)).toBe(true);
          }
          if (waiting && r.kind !== 'online' && s.mode === 'one-shot') expect(out.online).toBe(false);
        }
      }),
    );
  });

  it('online implies no error and no portal', () => {
    fc.assert(
      fc.property(settingsArb, fc.array(resultArb, { maxLength: 40 }), (s, results) => {
        let state = onConnected(s, initialCheckState()).state;
        for (const r of results) {
          const out = onResult(s, state, r);
          state = out.state;
          if (out.online) {
            expect(state.error).toBeNull();
            expect(out.portal).toBeNull();
          }
        }
      }),
    );
  });
});
