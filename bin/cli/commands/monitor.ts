/**
 * `monitor`: services as the daemon announces them (ServicesChanged) and sessions as a poll of
 * ListSessions finds them (there is no signal for sessions), until Ctrl-C. On a terminal the
 * two tables are redrawn in place; otherwise each change is one line, for scripts and logs
 * (`services eth-a=online ...`, `sessions PATH=STATE/INTERFACE ...`, `error MESSAGE`; with --json
 * `{"event":"services",...}`, `{"event":"sessions",...}`, `{"event":"error",...}`).
 */
import {
  type NetsessionError,
  PermissionDeniedError,
  type ServiceInfo,
  type SessionListEntry,
} from '../../../lib/index.js';
import { aborted, type Context } from '../context.js';
import { EXIT } from '../errors.js';
import { formatServices, formatSessions, servicesLine, sessionsLine, toJson } from '../format.js';

/** What monitor shows for sessions: the list, or why there is none. */
type SessionsView = { list: readonly SessionListEntry[] } | { unavailable: string };

const CLEAR = '\x1b[H\x1b[2J';

export async function monitor(ctx: Context, intervalMs: number): Promise<number> {
  const { io } = ctx;
  let services: readonly ServiceInfo[] | null = null;
  let sessions: SessionsView | null = null;
  let lastError: string | null = null;
  let lastSessionsJson = '';

  const draw = (what: 'services' | 'sessions' | 'error'): void => {
    if (ctx.inv.json) {
      if (what === 'services') io.out(toJson({ event: 'services', services }));
      else if (what === 'error') io.out(toJson({ event: 'error', message: lastError }));
      else if (sessions && 'list' in sessions) io.out(toJson({ event: 'sessions', sessions: sessions.list }));
      else if (sessions) io.out(toJson({ event: 'sessions', sessions: null, unavailable: sessions.unavailable }));
      return;
    }
    if (!io.isTTY) {
      if (what === 'services' && services) io.out(servicesLine(services));
      else if (what === 'error') io.out(`error ${lastError}`);
      else if (sessions && 'list' in sessions) io.out(sessionsLine(sessions.list));
      else if (sessions) io.out(`sessions unavailable: ${sessions.unavailable}`);
      return;
    }
    const parts = [
      `netsessionctl monitor  ${new Date().toTimeString().slice(0, 8)}${lastError ? `  (${lastError})` : ''}`,
      '',
      services === null ? 'services: …' : formatServices(services),
      '',
      sessions === null
        ? 'sessions: …'
        : 'list' in sessions
          ? formatSessions(sessions.list)
          : `sessions: ${sessions.unavailable}`,
    ];
    io.out(`${CLEAR}${parts.join('\n')}`);
  };

  const unwatch = ctx.manager.watchServices(
    (list) => {
      services = list;
      lastError = null;
      draw('services');
    },
    (err: NetsessionError) => {
      lastError = err.message;
      draw('error');
    },
  );

  // Polled one read at a time; only a changed list is shown.
  const stopped = aborted(ctx.stop);
  let polling = true;
  const poll = async (): Promise<void> => {
    while (polling && !ctx.stop.aborted) {
      let view: SessionsView;
      try {
        view = { list: await ctx.manager.sessions() };
      } catch (err) {
        // Not root, or a connmand: show services only, and say why once.
        if (
          err instanceof PermissionDeniedError ||
          (err as NetsessionError).code === 'NS_ERR_EXTENSION_NOT_SUPPORTED'
        ) {
          sessions = {
            unavailable:
              err instanceof PermissionDeniedError ? 'listing sessions needs root' : 'the daemon cannot list sessions',
          };
          draw('sessions');
          return;
        }
        view = { list: [] };
      }
      const json = toJson(view);
      if (json !== lastSessionsJson) {
        lastSessionsJson = json;
        sessions = view;
        draw('sessions');
      }
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([new Promise((r) => (timer = setTimeout(r, intervalMs))), stopped]);
      clearTimeout(timer);
    }
  };
  const polled = poll();
  await stopped;
  polling = false;
  unwatch();
  await polled;
  return EXIT.ok;
}
