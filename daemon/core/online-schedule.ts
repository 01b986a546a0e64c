/**
 * Online-check scheduling: a pure state machine per (service, family) that says, given what
 * happened, whether that family is online and when to probe next. The caller owns the timers
 * and the probes; this file only decides.
 *
 * Semantics follow ConnMan's `reschedule_online_check` and the one-shot/continuous handlers,
 * with three changes: every service is checked (not only the default one), replies ConnMan
 * leaves hanging (204, 500, ...) count as failures and are retried, and a portal reply takes
 * the family offline at once. The full list of differences is in docs/behaviour.md.
 */
import { ConfigError } from './errors.js';

/** Outcome of one probe (ConnMan's `wispr_portal_web_result`, reduced). */
export type OnlineCheckResult =
  | { kind: 'online' }
  | { kind: 'portal'; location?: string }
  | { kind: 'failure'; reason: string };

/** `none`: never probe, never online. `one-shot`: probe until the first success. `continuous`: keep probing. */
export type OnlineCheckMode = 'none' | 'one-shot' | 'continuous';

/** How the retry delay grows with the interval counter. */
export type IntervalStyle = 'geometric' | 'fibonacci';

/** ConnMan's `OnlineCheck*` settings (connectTimeoutMs is OnlineCheckConnectTimeout in ms). */
export interface OnlineCheckSettings {
  mode: OnlineCheckMode;
  /** First value of the interval counter after a (re)start or a first failure. */
  initialInterval: number;
  /** Cap of the interval counter; also the counter used between successful continuous checks. */
  maxInterval: number;
  intervalStyle: IntervalStyle;
  /** Consecutive continuous-mode failures that demote an online family. */
  failuresThreshold: number;
  /** Consecutive continuous-mode successes that clear a demotion. */
  successesThreshold: number;
  /** Connect timeout of one probe; 0 leaves it to the probe adapter's hard cap. */
  connectTimeoutMs: number;
}

/** ConnMan's defaults (`src/main.c`). */
export const DEFAULT_ONLINE_CHECK_SETTINGS: Readonly<OnlineCheckSettings> = Object.freeze({
  mode: 'one-shot',
  initialInterval: 1,
  maxInterval: 12,
  intervalStyle: 'geometric',
  failuresThreshold: 6,
  successesThreshold: 6,
  connectTimeoutMs: 0,
});

/** Node's setTimeout fires at once (with a warning) above 2^31-1 ms, so no delay may exceed it. */
const MAX_DELAY_SECONDS = Math.floor(0x7fffffff / 1000);

const MODES: ReadonlySet<string> = new Set<OnlineCheckMode>(['none', 'one-shot', 'continuous']);
const STYLES: ReadonlySet<string> = new Set<IntervalStyle>(['geometric', 'fibonacci']);
const KEYS: ReadonlySet<string> = new Set(Object.keys(DEFAULT_ONLINE_CHECK_SETTINGS));

function positiveInteger(key: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new ConfigError(`online check: ${key} must be an integer >= 1, got ${String(value)}`);
  }
  return value;
}

/**
 * Fills absent keys with {@link DEFAULT_ONLINE_CHECK_SETTINGS} and checks every value.
 * Unlike ConnMan, which logs and reverts bad intervals to the defaults, a bad value is an error:
 * a silently ignored setting is worse than a daemon that refuses to start.
 * @throws ConfigError on an unknown key or a bad value.
 */
export function validateOnlineCheckSettings(
  s: Readonly<Partial<Record<keyof OnlineCheckSettings, unknown>>>,
): OnlineCheckSettings {
  for (const key of Object.keys(s)) {
    if (!KEYS.has(key)) throw new ConfigError(`online check: unknown setting '${key}'`);
  }
  const d = DEFAULT_ONLINE_CHECK_SETTINGS;
  const mode = s.mode ?? d.mode;
  if (typeof mode !== 'string' || !MODES.has(mode)) {
    throw new ConfigError(`online check: mode must be none, one-shot or continuous, got ${String(mode)}`);
  }
  const intervalStyle = s.intervalStyle ?? d.intervalStyle;
  if (typeof intervalStyle !== 'string' || !STYLES.has(intervalStyle)) {
    throw new ConfigError(`online check: intervalStyle must be geometric or fibonacci, got ${String(intervalStyle)}`);
  }
  const initialInterval = positiveInteger('initialInterval', s.initialInterval ?? d.initialInterval);
  const maxInterval = positiveInteger('maxInterval', s.maxInterval ?? d.maxInterval);
  if (initialInterval > maxInterval) {
    throw new ConfigError(`online check: initialInterval (${initialInterval}) exceeds maxInterval (${maxInterval})`);
  }
  const style = intervalStyle as IntervalStyle;
  if (delaySeconds(style, maxInterval) > MAX_DELAY_SECONDS) {
    throw new ConfigError(
      `online check: maxInterval ${maxInterval} gives a ${style} delay of ${delaySeconds(style, maxInterval)} s (at most ${MAX_DELAY_SECONDS} s)`,
    );
  }
  const connectTimeoutMs = s.connectTimeoutMs ?? d.connectTimeoutMs;
  if (
    typeof connectTimeoutMs !== 'number' ||
    !Number.isInteger(connectTimeoutMs) ||
    connectTimeoutMs < 0 ||
    connectTimeoutMs > 0x7fffffff
  ) {
    throw new ConfigError(
      `online check: connectTimeoutMs must be an integer between 0 and 2^31-1, got ${String(connectTimeoutMs)}`,
    );
  }
  return {
    mode: mode as OnlineCheckMode,
    initialInterval,
    maxInterval,
    intervalStyle: style,
    failuresThreshold: positiveInteger('failuresThreshold', s.failuresThreshold ?? d.failuresThreshold),
    successesThreshold: positiveInteger('successesThreshold', s.successesThreshold ?? d.successesThreshold),
    connectTimeoutMs,
  };
}

/**
 * Retry delay in seconds for interval counter `interval` (a positive integer):
 * geometric n² (1, 4, 9, …, 144) or fibonacci Fib(n) (1, 1, 2, 3, 5, 8, …, 144).
 */
export function delaySeconds(style: IntervalStyle, interval: number): number {
  if (style === 'geometric') return interval * interval;
  let a = 0;
  let b = 1;
  for (let i = 0; i < interval; i++) [a, b] = [b, a + b];
  return a;
}

/** Plain-data check state of one family of one service. */
export interface CheckState {
  /** The family is connected and checks are running (false after a stop by disconnect or mode none). */
  active: boolean;
  /** A probe is scheduled or in flight; results arriving while false are stale and ignored. */
  pending: boolean;
  online: boolean;
  /** ConnMan's interval counter: the next retry waits `delaySeconds(style, interval)`. */
  interval: number;
  /** Consecutive failures (portal replies included). */
  failures: number;
  /** Consecutive successes. */
  successes: number;
  /** Set when continuous checking demoted the family; cleared after successesThreshold successes. */
  error: 'online-check-failed' | null;
  /** Where the last reply pointed when it was a captive portal, else null. */
  portal: string | null;
}

/** State of a family that is not connected. */
export function initialCheckState(): CheckState {
  return {
    active: false,
    pending: false,
    online: false,
    interval: 0,
    failures: 0,
    successes: 0,
    error: null,
    portal: null,
  };
}

/** What the caller should do next for this family. */
export type CheckAction = { kind: 'probe-after'; delayMs: number } | { kind: 'stop' };

const STOP: CheckAction = Object.freeze({ kind: 'stop' });

/**
 * The family became usable (or its address changed): probe now. A restart keeps `online` and a
 * continuous-mode demotion until a result says otherwise; mode `none` never probes. Cancel the
 * timer and abort any probe in flight first: a result cannot tell which probe it answers.
 */
export function onConnected(
  settings: OnlineCheckSettings,
  state: CheckState,
): { state: CheckState; online: boolean; action: CheckAction } {
  if (settings.mode === 'none') {
    return { state: { ...initialCheckState(), active: true }, online: false, action: STOP };
  }
  const next: CheckState = {
    ...state,
    active: true,
    pending: true,
    interval: settings.initialInterval,
    failures: state.error === null ? 0 : state.failures,
    successes: 0,
  };
  return { state: next, online: next.online, action: { kind: 'probe-after', delayMs: 0 } };
}

/** Schedules the next retry from the interval counter and advances the counter (ConnMan's reschedule). */
function reschedule(settings: OnlineCheckSettings, state: CheckState): { state: CheckState; action: CheckAction } {
  const interval = Math.min(Math.max(state.interval, settings.initialInterval), settings.maxInterval);
  return {
    state: { ...state, pending: true, interval: Math.min(interval + 1, settings.maxInterval) },
    action: { kind: 'probe-after', delayMs: delaySeconds(settings.intervalStyle, interval) * 1000 },
  };
}

/**
 * A probe finished. Results for a family that is not waiting for one (disconnected, stopped, or
 * a late reply after a restart was already answered) change nothing and stop.
 */
export function onResult(
  settings: OnlineCheckSettings,
  state: CheckState,
  result: OnlineCheckResult,
): { state: CheckState; online: boolean; portal: string | null; action: CheckAction } {
  if (!state.active || !state.pending) {
    return { state, online: state.online, portal: state.portal, action: STOP };
  }
  if (settings.mode === 'none') {
    const next = { ...initialCheckState(), active: true };
    return { state: next, online: false, portal: null, action: STOP };
  }
  const out = settings.mode === 'one-shot' ? oneShot(settings, state, result) : continuous(settings, state, result);
  return { state: out.state, online: out.state.online, portal: out.state.portal, action: out.action };
}

function oneShot(
  settings: OnlineCheckSettings,
  state: CheckState,
  result: OnlineCheckResult,
): { state: CheckState; action: CheckAction } {
  if (result.kind === 'online') {
    return {
      state: {
        ...state,
        pending: false,
        online: true,
        portal: null,
        error: null,
        failures: 0,
        successes: state.successes + 1,
      },
      action: STOP,
    };
  }
  const failed: CheckState = {
    ...state,
    online: false,
    portal: portalOf(result),
    failures: state.failures + 1,
    successes: 0,
  };
  return reschedule(settings, failed);
}

function continuous(
  settings: OnlineCheckSettings,
  state: CheckState,
  result: OnlineCheckResult,
): { state: CheckState; action: CheckAction } {
  if (result.kind === 'online') {
    const successes = state.successes + 1;
    let next: CheckState = { ...state, portal: null, successes, interval: settings.maxInterval };
    if (state.error === null) {
      // Not demoted: a success ends any failure run and (ConnMan: "promote on success") makes the family online.
      next = { ...next, online: true, failures: 0 };
    } else if (successes >= settings.successesThreshold) {
      next = { ...next, online: true, failures: 0, error: null };
    }
    return reschedule(settings, next);
  }
  const failures = state.failures + 1;
  let next: CheckState = { ...state, successes: 0, failures, portal: portalOf(result) };
  if (failures === 1) next.interval = settings.initialInterval;
  if (result.kind === 'portal') {
    // A portal intercepts HTTP right now: waiting for the threshold would report a lie.
    next.online = false;
  }
  if (failures >= settings.failuresThreshold && state.online && state.error === null) {
    next = { ...next, online: false, error: 'online-check-failed' };
  }
  return reschedule(settings, next);
}

/** A portal without a known location still has to read as "a portal" (non-null). */
function portalOf(result: OnlineCheckResult): string | null {
  return result.kind === 'portal' ? (result.location ?? '') : null;
}

/** The family stopped being usable: forget everything, stop probing. */
export function onDisconnected(_state: CheckState): { state: CheckState; online: false; action: { kind: 'stop' } } {
  return { state: initialCheckState(), online: false, action: { kind: 'stop' } };
}
