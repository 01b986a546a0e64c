/**
 * The daemon's log: one line per message on stderr, filtered by level. When stderr is the
 * journal (systemd sets `JOURNAL_STREAM` to the `dev:ino` of the stream it connected; it must
 * match fd 2, or stderr was redirected since), every line starts with a `<N>` syslog priority,
 * which journald strips and stores, so `journalctl -p warning` works. Otherwise plain text.
 */
import { fstatSync } from 'node:fs';
import type { LogLevel } from '../../config.js';
import type { Logger } from '../../ports.js';

const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };
/** syslog(3) priorities: LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR. */
const PRIORITY: Record<LogLevel, number> = { debug: 7, info: 6, warn: 4, error: 3 };

/** True when fd `fd` is the stream `JOURNAL_STREAM` names. */
export function isJournalStream(journalStream: string | undefined, fd = 2): boolean {
  const m = /^(\d+):(\d+)$/.exec(journalStream ?? '');
  if (!m) return false;
  try {
    const st = fstatSync(fd, { bigint: true });
    return st.dev === BigInt(m[1]!) && st.ino === BigInt(m[2]!);
  } catch {
    return false;
  }
}

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  level: LogLevel;
  /** Prefix `<N>` priorities (see {@link isJournalStream}). */
  journal: boolean;
  write?: (line: string) => void;
}

/** A Logger writing lines at `level` and above. */
export function createLogger(opts: LoggerOptions): Logger {
  const min = RANK[opts.level];
  const write = opts.write ?? ((line: string) => void process.stderr.write(line));
  return (level, msg) => {
    if (RANK[level] < min) return;
    write(opts.journal ? `<${PRIORITY[level]}>${level}: ${msg}\n` : `netsessiond ${level}: ${msg}\n`);
  };
}
