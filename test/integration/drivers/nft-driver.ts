/**
 * Runs a firewall adapter (nftables or iptables) inside a network namespace
 * (`ip netns exec NS node --import tsx nft-driver.ts [--backend nftables|iptables] '<options json>'`),
 * driven over a unix socket: the harness starts processes with stdin closed, and a unix socket
 * path works across network namespaces. The backend defaults to nftables.
 *
 * Options: `{ socket: string, table?: string, mountCgroup2?: boolean }` (`table`: nftables only).
 * With `mountCgroup2`, cgroup2 is mounted on /sys/fs/cgroup first when nothing is there:
 * `ip netns exec` gives the process a private mount namespace with a fresh /sys that has no cgroup
 * mounts, and both backends resolve cgroup paths through a cgroup2 mount (nft only under
 * /sys/fs/cgroup). The mount stays inside that private namespace.
 *
 * Requests, one JSON object per line: `{id, op: 'apply', state, verify?}`, `{id, op: 'verify'}`,
 * `{id, op: 'clear'}`, `{id, op: 'read'}`, `{id, op: 'reset', keys}`.
 * Answers, one per request: `{id, ok: true, result?, stats?, ms}` or `{id, ok: false, error}`;
 * counters come back as decimal strings. Prints `ready` on stdout once listening.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { createIptablesBackend } from '../../../daemon/adapters/iptables/index.js';
import { createNftablesBackend } from '../../../daemon/adapters/nftables/index.js';
import type { FirewallState } from '../../../daemon/core/kernel-state-types.js';
import type { Accounting, Firewall } from '../../../daemon/ports.js';

interface Options {
  socket: string;
  table?: string;
  mountCgroup2?: boolean;
}

interface Request {
  id: number;
  op: 'apply' | 'verify' | 'clear' | 'read' | 'reset';
  state?: FirewallState;
  verify?: boolean;
  keys?: string[];
}

/** What the driver needs of a backend: the ports, plus the statistics both backends keep. */
type Backend = Firewall & Accounting & { verify(): Promise<void>; readonly lastApply: unknown };

const args = process.argv.slice(2);
const flag = args.indexOf('--backend');
const backendName = flag >= 0 ? args.splice(flag, 2)[1] : 'nftables';
if (backendName !== 'nftables' && backendName !== 'iptables')
  throw new Error(`--backend must be nftables or iptables, not ${String(backendName)}`);

const opts = JSON.parse(args[0] ?? '{}') as Options;

if (opts.mountCgroup2) {
  const mounted = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .some((l) => / \/sys\/fs\/cgroup .* - cgroup2 /.test(l));
  if (!mounted) execFileSync('mount', ['-t', 'cgroup2', 'none', '/sys/fs/cgroup']);
}

const log = (level: string, msg: string) => process.stderr.write(`${level} ${msg}\n`);
const fw: Backend =
  backendName === 'iptables'
    ? createIptablesBackend({ log })
    : createNftablesBackend({ ...(opts.table ? { table: opts.table } : {}), log });

async function handle(req: Request): Promise<unknown> {
  const t0 = performance.now();
  switch (req.op) {
    case 'apply':
      if (!req.state) throw new Error('apply needs a state');
      await fw.apply(req.state, { verify: req.verify === true });
      return { stats: fw.lastApply, ms: performance.now() - t0 };
    case 'verify':
      await fw.verify();
      return { stats: fw.lastApply, ms: performance.now() - t0 };
    case 'clear':
      await fw.clear();
      return { ms: performance.now() - t0 };
    case 'read': {
      const counters = await fw.read();
      const result: Record<string, Record<string, string>> = {};
      for (const [k, c] of counters)
        result[k] = {
          rxBytes: String(c.rxBytes),
          txBytes: String(c.txBytes),
          rxPackets: String(c.rxPackets),
          txPackets: String(c.txPackets),
        };
      return { result, ms: performance.now() - t0 };
    }
    case 'reset':
      await fw.reset(req.keys ?? []);
      return { ms: performance.now() - t0 };
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
      (r) => conn.write(`${JSON.stringify({ id: req.id, ok: true, ...(r as object) })}\n`),
      (err: unknown) =>
        conn.write(
          `${JSON.stringify({ id: req.id, ok: false, error: err instanceof Error ? err.message : String(err) })}\n`,
        ),
    );
  });
  conn.on('error', () => undefined);
});
server.listen(opts.socket, () => process.stdout.write('ready\n'));
