/**
 * Runs the udhcpc DHCP client adapter inside a network namespace
 * (`ip netns exec NS node --import tsx dhcp-driver.ts '<options json>'`), driven over a unix
 * socket because the harness starts processes with stdin closed.
 *
 * Options: `{ socket: string, runDir?: string, retrySeconds?: number, failPauseSeconds?: number, backoff?: BackoffOptions }`.
 * Requests, one JSON object per line: `{id, op: 'start', ifname}`, `{id, op: 'renew', ifname}`,
 * `{id, op: 'stop', ifname}`, `{id, op: 'pid', ifname}`, `{id, op: 'events'}`.
 * Answers: `{id, ok: true, result?}` or `{id, ok: false, error}`; `events` returns every lease
 * event so far as `{ifname, ...DhcpLeaseEvent}`. Adapter logs go to stderr. Prints `ready` once listening.
 */
import { rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import type { BackoffOptions } from '../../../daemon/adapters/dhcp/index.js';
import { UdhcpcClient } from '../../../daemon/adapters/dhcp/index.js';
import type { DhcpLeaseEvent } from '../../../daemon/core/manage-plan.js';

interface Options {
  socket: string;
  runDir?: string;
  retrySeconds?: number;
  failPauseSeconds?: number;
  backoff?: BackoffOptions;
}

interface Request {
  id: number;
  op: 'start' | 'renew' | 'stop' | 'pid' | 'events';
  ifname?: string;
}

const opts = JSON.parse(process.argv[2] ?? '{}') as Options;
const events: Array<DhcpLeaseEvent & { ifname: string }> = [];
const client = new UdhcpcClient({
  ...(opts.retrySeconds !== undefined ? { retrySeconds: opts.retrySeconds } : {}),
  ...(opts.failPauseSeconds !== undefined ? { failPauseSeconds: opts.failPauseSeconds } : {}),
  ...(opts.backoff ? { backoff: opts.backoff } : {}),
  ...(opts.runDir ? { runDir: opts.runDir } : {}),
  log: (level, msg) => process.stderr.write(`${level} ${msg}\n`),
});

async function handle(req: Request): Promise<unknown> {
  const ifname = req.ifname ?? '';
  switch (req.op) {
    case 'start':
      client.start(ifname, (e) => events.push({ ifname, ...e }));
      return undefined;
    case 'renew':
      client.renew(ifname);
      return undefined;
    case 'stop':
      await client.stop(ifname);
      return undefined;
    case 'pid':
      return client.pidOf(ifname) ?? null;
    case 'events':
      return events;
  }
}

rmSync(opts.socket, { force: true });
const server = createServer((conn) => {
  const lines = createInterface({ input: conn });
  lines.on('line', (line) => {
    let req: Request;
    try {
      req = JSON.parse(line) as Request;
    } catch {
      conn.write(`${JSON.stringify({ id: -1, ok: false, error: 'bad json' })}\n`);
      return;
    }
    handle(req).then(
      (result) => conn.write(`${JSON.stringify({ id: req.id, ok: true, result })}\n`),
      (err: unknown) =>
        conn.write(
          `${JSON.stringify({ id: req.id, ok: false, error: err instanceof Error ? err.message : String(err) })}\n`,
        ),
    );
  });
  conn.on('error', () => undefined);
});
server.listen(opts.socket, () => process.stdout.write('ready\n'));
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.on(sig, () => {
    void client.stopAll().finally(() => process.exit(0));
  });
}
