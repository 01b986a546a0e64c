/**
 * Exit codes and the one-line error report. Every failure ends up here, so the mapping from
 * error to exit code lives in one place (documented in docs/netsessionctl.md).
 */
import { AbortError, DaemonUnavailableError, InvalidOptionError } from '../../lib/index.js';

/** netsessionctl's exit codes (`run` exits with its command's status instead, see EXIT_RUN). */
export const EXIT = {
  ok: 0,
  /** The daemon refused, a call failed, a session was lost, a local operation failed. */
  failure: 1,
  /** Bad command line: nothing was sent to the daemon. */
  usage: 2,
  /** No daemon on the bus, or no bus. */
  unavailable: 3,
  /** Ctrl-C (or SIGTERM, SIGHUP) while a command was still being set up (128 + SIGINT, as shells report it). */
  interrupted: 130,
} as const;

/** Statuses `run` uses for its own failures after the command was spawned (as env(1) and docker do). */
export const EXIT_RUN = {
  /** The command could not be moved into the session's cgroup. */
  cgroup: 125,
} as const;

/** A bad command line. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** The exit code for an error. */
export function exitCodeOf(err: unknown): number {
  if (err instanceof UsageError || err instanceof InvalidOptionError) return EXIT.usage;
  if (err instanceof DaemonUnavailableError) return EXIT.unavailable;
  if (err instanceof AbortError) return EXIT.interrupted;
  return EXIT.failure;
}

/** `netsessionctl: <message>`, on one line whatever the error carries (no stack). */
export function errorLine(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return `netsessionctl: ${message.replace(/\s*\n\s*/g, ' ').trim() || 'failed'}`;
}
