/** `state`, `services`, `technologies`, `enable`/`disable`, `offline`. */
import { AlreadyDisabledError, AlreadyEnabledError, type Bearer } from '../../../lib/index.js';
import { SERVICE_COLUMNS, TECHNOLOGY_COLUMNS } from '../columns.js';
import { type Context, emit, emitList } from '../context.js';
import { EXIT } from '../errors.js';
import { formatState } from '../format.js';

export async function state(ctx: Context): Promise<number> {
  const p = await ctx.manager.properties();
  emit(ctx, p, () => formatState(p));
  return EXIT.ok;
}

export async function services(ctx: Context): Promise<number> {
  emitList(ctx, SERVICE_COLUMNS, await ctx.manager.services());
  return EXIT.ok;
}

export async function technologies(ctx: Context): Promise<number> {
  emitList(ctx, TECHNOLOGY_COLUMNS, await ctx.manager.technologies());
  return EXIT.ok;
}

/** A technology the daemon does not have is a plain error (exit 1), told in words rather than as D-Bus's UnknownObject. */
class NoSuchTechnology extends Error {}

/** `enable`/`disable`: already in that state counts as success (`changed: false`), for scripts. */
export async function power(ctx: Context, technology: Bearer, on: boolean): Promise<number> {
  const have = await ctx.manager.technologies();
  if (!have.some((t) => t.type === technology)) {
    throw new NoSuchTechnology(
      `no technology '${technology}' (the daemon has ${have.map((t) => t.type).join(', ') || 'none'})`,
    );
  }
  let changed = true;
  try {
    await ctx.manager.setPowered(technology, on);
  } catch (err) {
    if (!(err instanceof (on ? AlreadyEnabledError : AlreadyDisabledError))) throw err;
    changed = false;
  }
  emit(
    ctx,
    { technology, powered: on, changed },
    () => `${technology}: ${changed ? '' : 'already '}${on ? 'enabled' : 'disabled'}`,
  );
  return EXIT.ok;
}

/** `offline on|off`: prints the Manager's properties afterwards. */
export async function offline(ctx: Context, on: boolean): Promise<number> {
  await ctx.manager.setOfflineMode(on);
  const p = await ctx.manager.properties();
  emit(ctx, p, () => formatState(p));
  return EXIT.ok;
}
