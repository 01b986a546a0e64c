/**
 * netsessionctl's driver: parse, connect through the SDK, run one command, map any failure to
 * one line on stderr and an exit code (see errors.ts).
 */
import { DBusTransport, getManager, type Transport } from '../../lib/index.js';
import { type Command, parseArgs } from './args.js';
import { offline, power, services, state, technologies } from './commands/info.js';
import { monitor } from './commands/monitor.js';
import { run } from './commands/run.js';
import { autoconnect, connect, serviceDetail } from './commands/service.js';
import { sessionCreate } from './commands/session-create.js';
import { sessions, stats } from './commands/sessions.js';
import { type Context, emit, type Output } from './context.js';
import { EXIT, errorLine, exitCodeOf } from './errors.js';
import { USAGE } from './usage.js';
import { packageVersion, versionLine } from './version.js';

/** Signals that end a streaming command cleanly (a second one ends netsessionctl at once). */
const STOP_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
/** Commands that run until stopped; the others die of a signal as any tool does. */
const STREAMING: ReadonlySet<Command['name']> = new Set(['session-create', 'monitor', 'run']);

function dispatch(ctx: Context, c: Command): Promise<number> {
  switch (c.name) {
    case 'help':
      ctx.io.out(USAGE);
      return Promise.resolve(EXIT.ok);
    case 'version':
      emit(ctx, { version: packageVersion() }, () => versionLine('netsessionctl'));
      return Promise.resolve(EXIT.ok);
    case 'state':
      return state(ctx);
    case 'services':
      return c.service === undefined ? services(ctx) : serviceDetail(ctx, c.service);
    case 'technologies':
      return technologies(ctx);
    case 'power':
      return power(ctx, c.technology, c.on);
    case 'connect':
      return connect(ctx, c.service, c.on);
    case 'autoconnect':
      return autoconnect(ctx, c.service, c.on);
    case 'offline':
      return offline(ctx, c.on);
    case 'sessions':
      return sessions(ctx);
    case 'stats':
      return stats(ctx, c.path);
    case 'session-create':
      return sessionCreate(ctx, c.session, c.waitMs);
    case 'monitor':
      return monitor(ctx, c.intervalMs);
    case 'run':
      return run(ctx, c.session, c.waitMs, c.argv);
  }
}

/** What main() connects through; tests hand in a MockTransport. */
export interface MainDeps {
  /** Default: a DBusTransport on `bus` (undefined: the system bus). */
  transport?: (bus: string | undefined) => Transport;
}

/** Runs netsessionctl with `argv` (without node and the script); resolves with the exit code. */
export async function main(argv: readonly string[], io: Output, deps: MainDeps = {}): Promise<number> {
  let inv: ReturnType<typeof parseArgs>;
  try {
    inv = parseArgs(argv);
  } catch (err) {
    io.err(errorLine(err));
    return exitCodeOf(err);
  }
  const transport = deps.transport
    ? deps.transport(inv.bus)
    : new DBusTransport(inv.bus === undefined ? {} : { busAddress: inv.bus });
  const ac = new AbortController();
  let intercepting = 0;
  const onStop = (): void => {
    if (intercepting > 0) return;
    if (ac.signal.aborted) process.exit(128 + 2);
    ac.abort();
  };
  const streaming = STREAMING.has(inv.command.name);
  if (streaming) for (const sig of STOP_SIGNALS) process.on(sig, onStop);
  // Nobody reads any more: a streaming command ends as on Ctrl-C (a `run` command's output is its own).
  const onClosed = (): void => {
    if (inv.command.name !== 'run') ac.abort();
  };
  io.closed?.addEventListener('abort', onClosed, { once: true });
  const ctx: Context = {
    inv,
    transport,
    manager: getManager(transport),
    io,
    stop: ac.signal,
    interceptSignals(handler, signals) {
      intercepting++;
      const installed = signals.map((sig) => {
        const h = (): void => handler(sig);
        process.on(sig, h);
        return [sig, h] as const;
      });
      let done = false;
      return () => {
        if (done) return;
        done = true;
        intercepting--;
        for (const [sig, h] of installed) process.off(sig, h);
      };
    },
  };
  try {
    return await dispatch(ctx, inv.command);
  } catch (err) {
    io.err(errorLine(err));
    return exitCodeOf(err);
  } finally {
    for (const sig of STOP_SIGNALS) process.off(sig, onStop);
    io.closed?.removeEventListener('abort', onClosed);
    await transport.close().catch(() => undefined);
  }
}
