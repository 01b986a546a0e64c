/** `sessions` (root's list of every session) and `stats` (per-session counters). */
import { SESSION_COLUMNS, STATS_COLUMNS, type StatsRow } from '../columns.js';
import { type Context, emitList } from '../context.js';
import { EXIT } from '../errors.js';

export async function sessions(ctx: Context): Promise<number> {
  emitList(ctx, SESSION_COLUMNS, await ctx.manager.sessions());
  return EXIT.ok;
}

/**
 * `stats PATH`: one session's counters (its owner or root). `stats`: every session's, which
 * needs the session list (root).
 */
export async function stats(ctx: Context, path: string | null): Promise<number> {
  if (path !== null) {
    const row: StatsRow = { path, ...(await ctx.manager.statistics(path)) };
    emitList(ctx, STATS_COLUMNS, [row], true);
    return EXIT.ok;
  }
  const rows: StatsRow[] = [];
  for (const s of await ctx.manager.sessions()) {
    try {
      rows.push({ path: s.path, ...(await ctx.manager.statistics(s.path)) });
    } catch (err) {
      // A session that ended between the list and its read is simply not there any more.
      if ((err as { code?: string }).code !== 'NS_ERR_SESSION_CLOSED') throw err;
    }
  }
  emitList(ctx, STATS_COLUMNS, rows);
  return EXIT.ok;
}
