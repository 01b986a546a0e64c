/**
 * What every command gets: the parsed invocation, the daemon (through the SDK's D-Bus
 * transport and Manager), where to write, and a signal that aborts on Ctrl-C / SIGTERM.
 */
import type { Manager, Transport } from '../../lib/index.js';
import type { Invocation } from './args.js';
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

/** Resolves when `signal` aborts. */
export function aborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}
