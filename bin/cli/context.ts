/**
 * What every command gets: the parsed invocation, the daemon (through the SDK's D-Bus
 * transport and Manager), where to write, and a signal that aborts on Ctrl-C / SIGTERM.
 */
import type { Manager, Transport } from '../../lib/index.js';
import type { Invocation } from './args.js';
import { type ColumnSet, columnJson, columnTable } from './columns.js';
import { toJson } from './format.js';

/** Where output goes. */
export interface Output {
  /** Writes one line (or block) to stdout. */
  out(text: string): void;
  /** Writes one line to stderr. */
  err(text: string): void;
  /** stdout is a terminal (monitor redraws in place then). */
  readonly isTTY: boolean;
  /**
   * Aborts once stdout's reader has gone (EPIPE, e.g. `netsessionctl monitor | head -1`):
   * streaming commands then end as on Ctrl-C and exit 0; output after it is dropped.
   */
  readonly closed?: AbortSignal;
  /**
   * Shows (a string) or clears (null) a progress line in place; only given when there is a
   * terminal to show it on (stderr), so piped output never carries one.
   */
  readonly progress?: (line: string | null) => void;
}

/** A command's world. */
export interface Context {
  readonly inv: Invocation;
  readonly transport: Transport;
  readonly manager: Manager;
  readonly io: Output;
  /** Aborted by SIGINT, SIGTERM or SIGHUP (streaming commands end cleanly on it). */
  readonly stop: AbortSignal;
  /**
   * Until the returned function is called, `signals` go to `handler` instead (`stop` does not
   * abort on them): `run` forwards them to its command.
   */
  interceptSignals(handler: (signal: NodeJS.Signals) => void, signals: readonly NodeJS.Signals[]): () => void;
}

/** Prints `json` (as one JSON document or line) with --json, else `text()`. */
export function emit(ctx: Context, json: unknown, text: () => string): void {
  ctx.io.out(ctx.inv.json ? toJson(json) : text());
}

/**
 * A list command's output: with `-o`, only those fields (text: those columns; JSON: objects with
 * just those keys); without, the default table or the SDK's objects as they are. `single`: one
 * row asked for by name, a JSON object rather than an array.
 */
export function emitList<Row>(ctx: Context, set: ColumnSet<Row>, rows: readonly Row[], single = false): void {
  const o = ctx.inv.output;
  if (ctx.inv.json) {
    const json = o?.fields ? columnJson(set, rows, o.fields) : rows;
    ctx.io.out(toJson(single ? json[0] : json));
    return;
  }
  const text = columnTable(set, rows, o?.fields ?? set.defaults, o?.headers ?? true);
  // --no-headers and no rows: nothing at all, so `| while read` loops see no blank line.
  if (text !== '') ctx.io.out(text);
}

/** Resolves when `signal` aborts. */
export function aborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}
