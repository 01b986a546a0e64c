/**
 * `session create`: a session that lives as long as the command, printing its settings and every
 * update until Ctrl-C (or SIGTERM), then destroyed. JSON lines: `{"event":"session",...}` first,
 * then `{"event":"update",...}` per update, `{"event":"end",...}` last.
 */
import { createSession, DaemonUnavailableError, type Session, type SessionOptions } from '../../../lib/index.js';
import { aborted, emit, type Context } from '../context.js';
import { EXIT } from '../errors.js';
import { formatUpdate, formatUplink } from '../format.js';

/** How long `--wait` waits for an uplink. */
export const WAIT_MS = 30_000;

/** Creates the session (and with `wait`, waits until it has an uplink). */
export async function openSession(ctx: Context, options: SessionOptions, wait: boolean): Promise<Session> {
  const s = await createSession({ ...options, transport: ctx.transport, signal: ctx.stop });
  if (wait) {
    try {
      await s.waitFor('connected', { timeout: WAIT_MS, signal: ctx.stop });
    } catch (err) {
      await s.destroy().catch(() => undefined);
      throw err;
    }
  }
  return s;
}

export async function sessionCreate(ctx: Context, options: SessionOptions, wait: boolean): Promise<number> {
  const s = await openSession(ctx, options, wait);
  emit(ctx, { event: 'session', path: s.path, settings: s.settings }, () => {
    const { connectionType, allowedBearers, allowedInterface, contextIdentifier, sourceIPRule } = s.settings;
    return [`session ${s.path}`, formatUplink(s.settings), formatUpdate({ connectionType, allowedBearers, allowedInterface, contextIdentifier, sourceIPRule })].join('\n');
  });
  s.on('update', (changes) => emit(ctx, { event: 'update', path: s.path, changes }, () => `update: ${formatUpdate(changes)}`));
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
  emit(ctx, { event: 'end', path: s.path, reason, message: outcome?.message ?? null }, () => `session ended: ${outcome?.message ?? reason}`);
  return outcome instanceof DaemonUnavailableError ? EXIT.unavailable : EXIT.failure;
}
