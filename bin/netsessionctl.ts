#!/usr/bin/env node
/**
 * netsessionctl: the command-line tool for netsessiond (and, where it needs no extension, a real
 * connmand). Talks to the daemon only through the SDK. See docs/netsessionctl.md.
 */
import { errorLine } from './cli/errors.js';
import { main } from './cli/main.js';
import { packageVersion } from '../lib/index.js';

// Errors are reported by main() in one line; anything escaping it is a bug, still one line.
const die = (err: unknown): never => {
  process.stderr.write(`${errorLine(err)}\n`);
  process.exit(1);
};
process.on('uncaughtException', die);
process.on('unhandledRejection', die);

if (process.argv[2] === '--version') {
  process.stdout.write(`netsessionctl (${packageVersion()})\n`);
  process.exit(0);
}

const code = await main(process.argv.slice(2), {
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
  isTTY: Boolean(process.stdout.isTTY),
});
// The bus connection and signal handlers must not keep a finished command alive.
process.exit(code);
