/**
 * Runs the link-configuration adapter inside a network namespace as a long-lived process (the
 * lifecycle needs the kernel's route notifications between calls):
 * `ip netns exec NS node --import tsx link-config-driver.ts <socket path> [--no-events]`.
 *
 * Listens on the unix socket (sb.spawn gives no stdin), prints `ready` once listening. Requests
 * are JSON lines `{id, cmd, args}`; replies `{id, ok, result?, error?, failures?}`. Commands:
 * `links` (applyLinkConfig(args)), `defaults` (applyMainDefaults(args.desired, args.managed)),
 * `lifecycle`, `waitActive` ({route, timeoutMs}), `exit`. `--no-events` skips start(): routes
 * then never become active.
 */

import { unlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import { createLinkConfig, LinkConfigError } from '../../../daemon/adapters/rtnetlink/link-config.js';
import { createProcSysctl } from '../../../daemon/adapters/system/proc-sysctl.js';

const path = process.argv[2];
if (!path) throw new Error('usage: link-config-driver.ts <socket path> [--no-events]');
const lc = createLinkConfig({
  sysctls: createProcSysctl(),
  log: (level, msg) => process.stderr.write(`${level} ${msg}\n`),
});
if (!process.argv.includes('--no-events')) await lc.start();

type Req = { id: number; cmd: string; args?: any };

async function handle(req: Req): Promise<unknown> {
  switch (req.cmd) {
    case 'links':
      return lc.applyLinkConfig(req.args);
    case 'defaults':
      return lc.applyMainDefaults(req.args.desired, req.args.managed);
    case 'lifecycle':
      return lc.lifecycle();
    case 'waitActive':
      return lc.waitActive(req.args.route, req.args.timeoutMs);
    case 'exit':
      setImmediate(() => {
        lc.stop();
        server.close();
      });
      return null;
    default:
      throw new Error(`unknown command ${req.cmd}`);
  }
}

const server = createServer((conn) => {
  let buf = '';
  conn.on('data', (chunk) => {
    buf += chunk.toString('utf8');
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      const req = JSON.parse(line) as Req;
      handle(req).then(
        (result) => conn.write(`${JSON.stringify({ id: req.id, ok: true, result })}\n`),
        (err: Error) =>
          conn.write(
            `${JSON.stringify({ id: req.id, ok: false, error: err.message, failures: err instanceof LinkConfigError ? err.failures : undefined })}\n`,
          ),
      );
    }
  });
  conn.on('error', () => {});
});
try {
  unlinkSync(path);
} catch {
  // Not there.
}
server.listen(path, () => process.stdout.write('ready\n'));
