/**
 * `session create`: a session that lives as long as the command, printing its settings and every
 * update until Ctrl-C (or SIGTERM), then destroyed. JSON lines: `{"event":"session",...}` first,
 * then `{"event":"update",...}` per update, `{"event":"end",...}` last.
 */
import {
  createSession,
  DaemonUnavailableError,
  type Session,
  type SessionOptions,
  TimeoutError,
} from '../../../lib/index.js';
import { aborted, type Context, emit } from '../context.js';
import { EXIT } from '../errors.js';
import { formatUpdate, formatUplink } from '../format.js';

/** How often the progress line of `--wait` changes. */
const PROGRESS_MS = 1000;

/** `--wait` ran out: exit 1 with what was waited for, not the SDK's waitFor wording. */
class NoUplinkError extends Error {}

/** Creates the session (and with `waitMs`, waits up to that long until it has an uplink). */
export async function openSession(ctx: Context, options: SessionOptions, waitMs: number | null): Promise<Session> {
  const s = await createSession({ ...options, transport: ctx.transport, signal: ctx.stop });
  if (waitMs !== null) {
    try {
      await waitForUplink(ctx, s, waitMs);
    } catch (err) {
      await s.destroy().catch(() => undefined);
      throw err instanceof TimeoutError
        ? new NoUplinkError(`the session got no uplink within ${waitMs / 1000} s (its state: ${s.settings.state})`)
        : err;
    }
  }
  return s;
}

/** waitFor('connected'), with a progress line once a second while a terminal shows it. */
async function waitForUplink(ctx: Context, s: Session, waitMs: number): Promise<void> {
  const { progress } = ctx.io;
  const started = Date.now();
  const show = (): void =>
    progress?.(
      `waiting for an uplink: ${Math.round((Date.now() - started) / 1000)} s of ${waitMs / 1000} s (session ${s.settings.state})`,
    );
  const timer = progress ? setInterval(show, PROGRESS_MS) : undefined;
  try {
    await s.waitFor('connected', { timeout: waitMs, signal: ctx.stop });
  } finally {
    clearInterval(timer);
    progress?.(null);
  }
}

export async function sessionCreate(ctx: Context, options: SessionOptions, waitMs: number | null): Promise<number> {
  const s = await openSession(ctx, options, waitMs);
  emit(ctx, { event: 'session', path: s.path, settings: s.settings }, () => {
    const { connectionType, allowedBearers, allowedInterface, contextIdentifier, sourceIPRule } = s.settings;
    return [
      `session ${s.path}`,
      formatUplink(s.settings),
      formatUpdate({ connectionType, allowedBearers, allowedInterface, contextIdentifier, sourceIPRule }),
    ].join('\n');
  });
  s.on('update', (changes) =>
    emit(ctx, { event: 'update', path: s.path, changes }, () => `update: ${formatUpdate(changes)}`),
  );
  const ended = new Promise<Error | null>((resolve) => s.once('destroyed', resolve));
  const byUser = aborted(ctx.stop).then(() => 'stopped' as const);
  const outcome = await Promise.race([ended, byUser]);
  if (outcome === 'stopped') {
    await s.destroy().catch(() => undefined);
    emit(ctx, { event: 'end', path: s.path, reason: 'destroyed' }, () => 'session destroyed');
    return EXIT.ok;
  }
  // The daemon ended it (shutdown, or gone from the bus).
  const reason = outcome instanceof DaemonUnavailableError ? 'lost' : 'released';
  emit(
    ctx,
    { event: 'end', path: s.path, reason, message: outcome?.message ?? null },
    () => `session ended: ${outcome?.message ?? reason}`,
  );
  return outcome instanceof DaemonUnavailableError ? EXIT.unavailable : EXIT.failure;
}
