#!/usr/bin/env node
/**
 * netsessionctl: the command-line tool for netsessiond (and, where it needs no extension, a real
 * connmand). Talks to the daemon only through the SDK. See docs/netsessionctl.md.
 */
import { errorLine } from './cli/errors.js';
import { main } from './cli/main.js';

// Errors are reported by main() in one line; anything escaping it is a bug, still one line.
const die = (err: unknown): never => {
  process.stderr.write(`${errorLine(err)}\n`);
  process.exit(1);
};
process.on('uncaughtException', die);
process.on('unhandledRejection', die);

// A reader that went away (`netsessionctl ... | head`) is not an error: stop writing, end
// streaming commands as on Ctrl-C, exit 0. Errors after it are the same closed pipe.
const stdoutGone = new AbortController();
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE' || stdoutGone.signal.aborted) {
    stdoutGone.abort();
    return;
  }
  die(err);
});

const code = await main(process.argv.slice(2), {
  out: (text) => {
    if (!stdoutGone.signal.aborted) process.stdout.write(`${text}\n`);
  },
  closed: stdoutGone.signal,
  err: (text) => process.stderr.write(`${text}\n`),
  isTTY: Boolean(process.stdout.isTTY),
  // On the terminal's own line (stderr), rewritten in place; \x1b[K clears what was there.
  ...(process.stderr.isTTY
    ? { progress: (line: string | null) => process.stderr.write(line === null ? '\r\x1b[K' : `\r\x1b[K${line}`) }
    : {}),
});
// The bus connection and signal handlers must not keep a finished command alive.
process.exit(code);
