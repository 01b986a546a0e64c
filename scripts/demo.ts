#!/usr/bin/env node
/**
 * `npm run demo`: netsession end to end in a sandbox of network namespaces.
 *
 *   sudo npm run demo [-- --non-interactive]
 *
 * Builds the integration tests' sandbox (test/integration/harness: a device with three uplinks,
 * one router each, an internet host with an HTTP server and the online-check endpoint, a private
 * D-Bus), starts netsessiond there with its nftables datapath and the bearer overrides eth-a =
 * ethernet, eth-b = wifi, eth-c = cellular, and runs an app using the SDK in the device
 * namespace (scripts/demo/app.ts) plus examples/heartbeat.ts. Then: one session per bearer, each
 * downloading through its own uplink; per-session byte counts; a default session that fails over
 * to wifi when ethernet loses carrier and comes back; a summary. Every claim printed with ✓ is
 * checked against what the server, the routers or the daemon saw; the exit code is 0 only when
 * every check passed. Everything is torn down at the end, on failure, and on Ctrl-C/SIGTERM.
 * The machine's own network is never touched.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SessionUpdate } from '../lib/index.js';
import { listNamespaces, TMP_BASE } from '../test/integration/harness/cleanup.js';
import { REPO_ROOT, startNetsessiond } from '../test/integration/harness/daemon.js';
import { waitFor } from '../test/integration/harness/exec.js';
import {
  createSandbox,
  integrationSkipReason,
  type ProcessExit,
  type RouterCounters,
  type Sandbox,
  type SandboxProcess,
} from '../test/integration/harness/sandbox.js';
import { sandboxDaemonArgs } from '../test/integration/harness/test-daemon.js';
import { type DemoApp, startApp } from './demo/app-client.js';
import { HeartbeatWatch } from './demo/heartbeat-watch.js';
import { formatBytes, LiveView, type ServiceRow, type SessionRow, type StepResult } from './demo/view.js';

/** The whole demo normally takes a few seconds. */
const DEADLINE_MS = 120_000;
/** Bytes each download fetches. */
const N = 1_000_000;
/** The three uplinks, their bearer (the daemon's per-interface override) and the session on it. */
const UPLINKS = [
  { name: 'eth-a', bearer: 'ethernet' },
  { name: 'eth-b', bearer: 'wifi' },
  { name: 'eth-c', bearer: 'cellular' },
] as const;

const argv = process.argv.slice(2);
if (argv.includes('--help') || argv.includes('-h')) {
  console.log(
    'usage: sudo npm run demo [-- --non-interactive]\n  --non-interactive  plain lines, no in-place refresh (also when CI=true or stdout is not a terminal)',
  );
  process.exit(0);
}
const interactive = Boolean(process.stdout.isTTY) && !argv.includes('--non-interactive') && process.env.CI !== 'true';
const view = new LiveView(interactive);

// ---------------------------------------------------------------------------------------------
// State shared by the steps and the teardown.
// ---------------------------------------------------------------------------------------------
let sb: Sandbox | null = null;
let sandboxPending: Promise<Sandbox> | null = null;
let daemon: SandboxProcess | null = null;
let app: DemoApp | null = null;
let hb: HeartbeatWatch | null = null;
let interrupted: NodeJS.Signals | null = null;
const results: StepResult[] = [];
let current: string | null = null;

/** The checks of one step: each claim is printed with ✓ or ✗ as it is checked. */
class Check {
  readonly failed: string[] = [];
  passed = 0;

  that(ok: boolean, claim: string, otherwise?: string): boolean {
    if (ok) {
      this.passed += 1;
      view.ok(claim);
    } else {
      this.failed.push(claim);
      view.fail(otherwise ? `${claim} — ${otherwise}` : claim);
    }
    return ok;
  }
}

interface Step {
  title: string;
  run: (c: Check) => Promise<void>;
}

const uplink = (name: string) => sb!.uplink(name);
const url = (path: string, bytes: number) => `http://${sb!.inet.addr4}${path}?bytes=${bytes}`;

async function countersByUplink(): Promise<Map<string, RouterCounters>> {
  return new Map(await Promise.all(UPLINKS.map(async (u) => [u.name, await sb!.routerCounters(u.name)] as const)));
}

/** Server-log clients of the requests for `path`, in order. */
async function clientsOf(path: string): Promise<string[]> {
  return (await sb!.httpLog()).filter((e) => e.path === path).map((e) => e.client);
}

/** The session once online on `ifname`; after a timeout, the session as it is (the check then says why). */
async function waitOnline(id: string, ifname: string): Promise<Omit<SessionRow, 'counters'>> {
  try {
    return await app!.call<SessionRow>('waitOnline', { id, interface: ifname });
  } catch {
    const row = (await app!.call<SessionRow[]>('status')).find((x) => x.id === id);
    return row ?? { id, state: 'gone', interface: null, bearer: null, address: null };
  }
}

async function rx(id: string): Promise<number> {
  return (await app!.call<{ rx: number }>('statistics', { id })).rx;
}

/** `Update default: interface eth-a → eth-b, bearer ethernet → wifi, ipv4 198.51.100.18, state online` */
function formatUpdate(
  id: string,
  u: SessionUpdate,
  before: { interface: string | null; bearer: string | null },
): string {
  const parts: string[] = [];
  if ('interface' in u) parts.push(`interface ${before.interface ?? '-'} → ${u.interface ?? '-'}`);
  if ('bearer' in u) parts.push(`bearer ${before.bearer ?? '-'} → ${u.bearer ?? '-'}`);
  if ('ipv4' in u) parts.push(`ipv4 ${u.ipv4?.address ?? '-'}`);
  if ('state' in u) parts.push(`state ${u.state}`);
  const rest = Object.keys(u).filter((k) => !['interface', 'bearer', 'ipv4', 'state'].includes(k));
  if (rest.length) parts.push(`also ${rest.join(', ')}`);
  return `Update ${id}: ${parts.join(', ')}`;
}

// ---------------------------------------------------------------------------------------------
// The steps.
// ---------------------------------------------------------------------------------------------
const steps: Step[] = [
  {
    title: 'sandbox, private D-Bus, netsessiond, app',
    async run(c) {
      sandboxPending = createSandbox();
      sb = await sandboxPending;
      view.line(`    sandbox ${sb.id}: namespaces ${sb.namespaces.join(', ')}`);
      view.line(
        `    device ${sb.devNs}: ${UPLINKS.map((u) => `${u.name} (${u.bearer}) ${uplink(u.name).devAddr4}`).join(', ')}`,
      );
      view.line(`    internet host ${sb.inet.addr4}: HTTP server, online check ${sb.inet.onlineUrl4}`);
      c.that(
        listNamespaces().filter((n) => n.startsWith(`${sb!.id}-`)).length === sb.namespaces.length,
        `${sb.namespaces.length} namespaces built (device, 3 routers, internet host)`,
      );

      const conf = join(sb.tmpDir, 'netsessiond.conf');
      const bearers = UPLINKS.map((u) => `${u.name} = ${u.bearer}`);
      writeFileSync(
        conf,
        [
          '[General]',
          'OnlineCheckMode = one-shot',
          'OnlineCheckInitialInterval = 1',
          'OnlineCheckMaxInterval = 1',
          'OnlineCheckConnectTimeout = 1',
          '[Bearers]',
          ...bearers,
          '',
        ].join('\n'),
      );
      daemon = await startNetsessiond(sb, {
        args: [...sandboxDaemonArgs(sb, conf), '--firewall', 'nftables'],
      });
      await daemon.waitForLine(/ready:/, { timeoutMs: 15_000 });
      c.that(
        await sb.busNameHasOwner('net.connman'),
        `netsessiond (pid ${daemon.pid}, --firewall nftables, bearers ${bearers.join(', ')}) owns net.connman on the private bus`,
      );

      app = await startApp(sb);
      c.that(
        app.proc.exitStatus === null,
        `the demo app (scripts/demo/app.ts, pid ${app.proc.pid}) runs in ${sb.devNs} and talks to the daemon through the SDK`,
      );
    },
  },
  {
    title: 'services and their bearers',
    async run(c) {
      // The daemon checks every uplink's online status once at start; give it a few seconds.
      const services = await waitFor(
        'three services online',
        async () => {
          const list = await app!.call<ServiceRow[]>('services');
          return list.filter((s) => s.state === 'online').length >= UPLINKS.length ? list : undefined;
        },
        { timeoutMs: 20_000, intervalMs: 200 },
      ).catch(() => app!.call<ServiceRow[]>('services'));
      for (const u of UPLINKS) {
        const s = services.find((x) => x.name === u.name);
        c.that(
          s?.bearer === u.bearer && s.state === 'online',
          `service ${u.name}: bearer ${u.bearer}, online`,
          `daemon says ${s ? `${s.bearer}, ${s.state}` : 'no such service'}`,
        );
      }
    },
  },
  {
    title: 'one session per bearer',
    async run(c) {
      for (const u of UPLINKS) {
        await app!.call('create', { id: u.bearer, options: { allowedBearers: [u.bearer], sourceIPRule: true } });
        const info = await waitOnline(u.bearer, u.name);
        c.that(
          info.interface === u.name && info.bearer === u.bearer && info.address === uplink(u.name).devAddr4,
          `session "${u.bearer}" (allowedBearers ['${u.bearer}'], sourceIPRule) is online on ${u.name}, address ${uplink(u.name).devAddr4}`,
          `it is ${info.state} on ${info.interface ?? 'nothing'} (${info.bearer}) ${info.address ?? ''}`,
        );
      }
    },
  },
  {
    title: 'a download through each session',
    async run(c) {
      await sb!.clearHttpLog();
      const before = await countersByUplink();
      view.line(`    each session fetches ${formatBytes(N)} with s.fetch(), all three at once`);
      const got = await Promise.all(
        UPLINKS.map((u) =>
          app!.call<{ status: number; bytes: number }>('fetch', { id: u.bearer, url: url(`/download-${u.bearer}`, N) }),
        ),
      );
      const after = await countersByUplink();
      for (const [i, u] of UPLINKS.entries()) {
        const r = got[i]!;
        const clients = await clientsOf(`/download-${u.bearer}`);
        const delta = after.get(u.name)!.bytesIn - before.get(u.name)!.bytesIn;
        const spoofed = after.get(u.name)!.spoofed - before.get(u.name)!.spoofed;
        c.that(
          r.status === 200 && r.bytes === N,
          `"${u.bearer}" received ${formatBytes(r.bytes)} (HTTP ${r.status})`,
          `expected ${formatBytes(N)} with HTTP 200`,
        );
        c.that(
          clients.length === 1 && clients[0] === uplink(u.name).devAddr4,
          `the server saw the "${u.bearer}" request from ${uplink(u.name).devAddr4} (${u.name})`,
          `it saw ${clients.join(', ') || 'nothing'}`,
        );
        // Each router carried exactly one of the three downloads: at least N bytes, less than 2N.
        c.that(
          delta >= N && delta < 2 * N && spoofed === 0,
          `router of ${u.name} forwarded ${formatBytes(delta)} to the device (one download, no spoofed packets)`,
          `spoofed ${spoofed}`,
        );
      }
    },
  },
  {
    title: 'per-session byte counts',
    async run(c) {
      for (const u of UPLINKS) {
        const st = await app!.call<{ rx: number; tx: number; rxPackets: number; txPackets: number }>('statistics', {
          id: u.bearer,
        });
        c.that(
          st.rx >= N,
          `session "${u.bearer}" on ${u.name}: rx ${formatBytes(st.rx)} in ${st.rxPackets} packets, tx ${formatBytes(st.tx)} (≥ ${formatBytes(N)} downloaded)`,
        );
      }
      const nft = await sb!.run(sb!.devNs, ['nft', 'list', 'counters', 'table', 'inet', 'netsession'], {
        allowFail: true,
      });
      const named = (nft.stdout.match(/^\s*counter \S+ \{/gm) ?? []).length;
      c.that(
        nft.code === 0 && named > 0,
        `the nftables datapath is in place: table inet netsession in ${sb!.devNs} holds ${named} named counters`,
        nft.stderr.trim(),
      );
      await refreshStatus();
      view.snapshot();
      // The datapath counts traffic from an address to the oldest session bound there with
      // sourceIPRule: closing these three lets the default session (and not them) own the
      // counts of the traffic that follows.
      for (const u of UPLINKS) await app!.call('destroy', { id: u.bearer });
      const left = await app!.call<SessionRow[]>('status');
      c.that(left.length === 0, 'the three sessions are closed');
    },
  },
  {
    title: 'a default session (no bearer restriction)',
    async run(c) {
      await app!.call('create', { id: 'default', options: { sourceIPRule: true } });
      const info = await waitOnline('default', 'eth-a');
      c.that(
        info.interface === 'eth-a' && info.bearer === 'ethernet',
        'session "default" picks ethernet: online on eth-a',
        `it is ${info.state} on ${info.interface ?? 'nothing'} (${info.bearer})`,
      );
    },
  },
  {
    title: 'heartbeat over every uplink (examples/heartbeat.ts)',
    async run(c) {
      await sb!.clearHttpLog();
      const target = `http://${sb!.inet.addr4}/heartbeat`;
      view.line(`    monitorUplinks probes ${target} through each uplink every 500 ms`);
      // Started after the default session: its own sessions are younger, so they do not take
      // over the default session's byte counts (see the step before).
      hb = new HeartbeatWatch(sb!, target, 500, (line) => view.line(`    heartbeat: ${line}`));
      const names = UPLINKS.map((u) => u.name);
      // A first probe may fail while the daemon still installs the new sessions' source rules:
      // what counts is that every uplink ends up UP.
      await hb.waitAll(names, true, 0, 15_000).catch(() => undefined);
      for (const u of UPLINKS) c.that(hb.last(u.name) === true, `heartbeat reports ${u.name} (${u.bearer}) UP`);
      const clients = new Set(await clientsOf('/heartbeat'));
      c.that(
        UPLINKS.every((u) => clients.has(uplink(u.name).devAddr4)) && clients.size === UPLINKS.length,
        "the server saw probes from each uplink's own address",
        `it saw ${[...clients].join(', ')}`,
      );
      view.line('    (the datapath counts traffic by source address, to the oldest session bound there:');
      view.line('     probes leaving from the default session\'s uplink count to "default" too)');
    },
  },
  {
    title: 'failover: eth-a (ethernet) loses carrier',
    async run(c) {
      const fromUpdate = app!.updates.length;
      const fromHb = hb!.transitions.length;
      const rxBefore = await rx('default');
      view.line("    eth-a's router takes its side of the link down: the device sees NO-CARRIER");
      await sb!.setCarrier('eth-a', false);
      const u = await app!.waitUpdate('default', fromUpdate, (x) => 'interface' in x, 10_000);
      view.line(`    ${formatUpdate('default', u, { interface: 'eth-a', bearer: 'ethernet' })}`);
      c.that(
        u.interface === 'eth-b' && u.bearer === 'wifi',
        'session "default" failed over to eth-b (wifi) in one Update',
      );
      await hb!.waitAll(['eth-a'], false, fromHb, 10_000).catch(() => undefined);
      c.that(hb!.last('eth-a', fromHb) === false, 'heartbeat reports eth-a DOWN');
      c.that(
        hb!.last('eth-b', fromHb) !== false && hb!.last('eth-c', fromHb) !== false,
        'heartbeat keeps eth-b and eth-c up',
      );

      await sb!.clearHttpLog();
      const before = await sb!.routerCounters('eth-b');
      const r = await app!.call<{ status: number; bytes: number }>('fetch', {
        id: 'default',
        url: url('/after-failover', N),
      });
      const delta = (await sb!.routerCounters('eth-b')).bytesIn - before.bytesIn;
      const clients = await clientsOf('/after-failover');
      const rxDelta = (await rx('default')) - rxBefore;
      c.that(
        r.status === 200 && r.bytes === N,
        `a new request through "default" received ${formatBytes(r.bytes)} (HTTP ${r.status})`,
        `expected ${formatBytes(N)} with HTTP 200`,
      );
      c.that(
        clients.length === 1 && clients[0] === uplink('eth-b').devAddr4,
        `the server saw it from ${uplink('eth-b').devAddr4} (eth-b)`,
        `it saw ${clients.join(', ') || 'nothing'}`,
      );
      c.that(delta >= N, `router of eth-b forwarded ${formatBytes(delta)} to the device`);
      c.that(rxDelta >= N, `"default" counted rx +${formatBytes(rxDelta)} for it`);
    },
  },
  {
    title: 'restore: eth-a gets its carrier back',
    async run(c) {
      const fromUpdate = app!.updates.length;
      const fromHb = hb!.transitions.length;
      await sb!.setCarrier('eth-a', true);
      const u = await app!.waitUpdate('default', fromUpdate, (x) => 'interface' in x, 15_000);
      view.line(`    ${formatUpdate('default', u, { interface: 'eth-b', bearer: 'wifi' })}`);
      c.that(u.interface === 'eth-a' && u.bearer === 'ethernet', 'session "default" is back on eth-a (ethernet)');
      await hb!.waitAll(['eth-a'], true, fromHb, 15_000).catch(() => undefined);
      c.that(hb!.last('eth-a', fromHb) === true, 'heartbeat reports eth-a UP again');
      await sb!.clearHttpLog();
      const r = await app!.call<{ status: number; bytes: number }>('fetch', {
        id: 'default',
        url: url('/after-restore', 1000),
      });
      const clients = await clientsOf('/after-restore');
      c.that(
        r.status === 200 && clients.length === 1 && clients[0] === uplink('eth-a').devAddr4,
        `a new request through "default" left from ${uplink('eth-a').devAddr4} (eth-a)`,
        `HTTP ${r.status}, server saw ${clients.join(', ') || 'nothing'}`,
      );
    },
  },
];

const teardownStep: Step = {
  title: 'teardown',
  async run(c) {
    if (hb) {
      const e = await hb.proc.kill('SIGTERM', 2000);
      if (interrupted) view.line(`    heartbeat example ended (${describeExit(e)})`);
      else c.that(e.code === 0, 'heartbeat example stopped on SIGTERM', describeExit(e));
    }
    if (app) {
      const closed = await app.call('close', {}, 5000).then(
        () => null,
        (err: unknown) => (err as Error).message,
      );
      if (!interrupted) c.that(closed === null, 'sessions destroyed, the app left the bus', closed ?? '');
      await app.proc.kill('SIGTERM', 2000);
    }
    if (daemon) {
      const e = await daemon.kill('SIGTERM', 5000);
      // On Ctrl-C the harness's own signal handler has already killed every sandbox process.
      if (interrupted) view.line(`    netsessiond ended (${describeExit(e)})`);
      else c.that(e.code === 0, 'netsessiond exited 0 on SIGTERM', describeExit(e));
    }
    // Interrupted while the sandbox was being built: the harness's signal handler removed what
    // existed at that moment, but the build goes on until it settles. Wait for it, then destroy.
    if (!sb && sandboxPending) {
      view.line('    waiting for the sandbox under construction to settle');
      sb = await Promise.race([
        sandboxPending.catch(() => null),
        new Promise<null>((r) => setTimeout(() => r(null), 30_000).unref()),
      ]);
    }
    let err: string | null = null;
    if (sb)
      err = await sb.destroy().then(
        () => null,
        (e: unknown) => (e as Error).message,
      );
    // Every sandbox this process made is named nsh-<our pid>-…: none may be left.
    const prefix = `nsh-${process.pid}-`;
    const left = [...listNamespaces().filter((n) => n.startsWith(prefix)), ...ownTmpDirs(prefix)];
    const what = sb
      ? `sandbox ${sb.id} removed`
      : sandboxPending
        ? 'the half-built sandbox removed'
        : 'nothing was built';
    c.that(
      err === null && left.length === 0,
      `${what}: no namespace or temp dir named ${prefix}* left`,
      err ?? `left: ${left.join(', ')}`,
    );
  },
};

function ownTmpDirs(prefix: string): string[] {
  try {
    return readdirSync(TMP_BASE)
      .filter((d) => d.startsWith(prefix))
      .map((d) => join(TMP_BASE, d));
  } catch {
    return [];
  }
}

function describeExit(e: ProcessExit): string {
  return e.signal ? `signal ${e.signal}` : `exit ${e.code}`;
}

// ---------------------------------------------------------------------------------------------
// Live view, running, finishing.
// ---------------------------------------------------------------------------------------------
let refreshing = false;
async function refreshStatus(): Promise<void> {
  if (refreshing || !app) return;
  refreshing = true;
  try {
    const [services, sessions] = await Promise.all([
      app.call<ServiceRow[]>('services', {}, 3000),
      app.call<SessionRow[]>('status', {}, 3000),
    ]);
    view.setStatus({ services, sessions, heartbeat: hb ? hb.rows : null });
  } catch {
    /* a status read that fails (e.g. during teardown) just leaves the last view */
  } finally {
    refreshing = false;
  }
}

async function runStep(i: number, step: Step): Promise<boolean> {
  current = step.title;
  view.line('');
  view.line(`${i}. ${step.title}`);
  const c = new Check();
  try {
    await step.run(c);
  } catch (err) {
    if (!interrupted) c.that(false, `${step.title}: ${(err as Error).message.split('\n')[0]}`);
  }
  current = null;
  if (finishing && step !== teardownStep) return false;
  const ok = c.failed.length === 0 && c.passed > 0;
  results.push({
    title: step.title,
    ok,
    detail: ok ? `${c.passed} check${c.passed === 1 ? '' : 's'} passed` : `failed: ${c.failed.join('; ')}`,
  });
  if (step !== teardownStep) {
    await refreshStatus();
    view.snapshot();
  }
  return ok;
}

let finishing: Promise<void> | null = null;

/** Tears down, prints the summary and exits; the same run however it is reached. */
function finish(): Promise<void> {
  finishing ??= (async () => {
    clearInterval(ticker);
    if (current)
      results.push({
        title: current,
        ok: false,
        detail: interrupted ? `interrupted by ${interrupted}` : `timed out after ${DEADLINE_MS / 1000} s`,
      });
    const failed = results.some((r) => !r.ok);
    if (failed && !interrupted) {
      for (const [name, p] of [
        ['netsessiond', daemon],
        ['app', app?.proc],
      ] as const) {
        const tail = p?.stderr.trim().split('\n').slice(-12).join('\n    ');
        if (tail) view.line(`\n  ${name} stderr (last lines):\n    ${tail}`);
      }
    }
    view.release();
    for (const s of steps.slice(results.length))
      results.push({
        title: s.title,
        ok: null,
        detail: interrupted ? 'not run (interrupted)' : 'not run (an earlier step failed)',
      });
    await runStep(steps.length, teardownStep);
    view.summary(results);
    const allOk = !interrupted && results.every((r) => r.ok === true);
    view.line('');
    if (allOk) view.line(`demo passed: all ${results.length} steps did what they claimed`);
    else if (interrupted) view.line(`demo interrupted by ${interrupted}; everything it built is removed`);
    else view.line('demo FAILED (see ✗ above)');
    process.exit(interrupted ? 128 + (interrupted === 'SIGINT' ? 2 : 15) : allOk ? 0 : 1);
  })();
  return finishing;
}

// The harness registers its own handlers when the sandbox is created (they kill the sandbox's
// processes and delete its namespaces synchronously); ours come first, and because ours stay
// registered the harness does not re-raise the signal: finish() tears down and exits instead.
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (interrupted) process.exit(128 + (sig === 'SIGINT' ? 2 : 15)); // a second Ctrl-C: stop waiting (the exit handler still cleans up)
    interrupted = sig;
    view.line('');
    view.line(`interrupted (${sig}): tearing down`);
    void finish();
  });
}

const ticker = interactive ? setInterval(() => void refreshStatus(), 500) : undefined;

// Every wait inside the steps has its own timeout; this is the backstop should one still hang.
setTimeout(() => {
  view.line('');
  view.line(`timed out after ${DEADLINE_MS / 1000} s: tearing down`);
  void finish();
}, DEADLINE_MS).unref();

async function main(): Promise<void> {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) {
    console.error(
      'netsession demo: needs root on Linux (it builds network namespaces with `ip netns`); run: sudo npm run demo',
    );
    process.exit(1);
  }
  view.line('netsession demo: per-application network sessions in a sandbox of network namespaces');
  view.line("(this machine's own network is never touched)");
  const deps = spawnSync('bash', [join(REPO_ROOT, 'scripts', 'install-deps.sh')], { stdio: 'inherit' });
  if (deps.status !== 0) {
    console.error('netsession demo: could not install the Debian packages it needs (scripts/install-deps.sh failed)');
    process.exit(1);
  }
  const reason = integrationSkipReason();
  if (reason) {
    console.error(`netsession demo: cannot build the sandbox here: ${reason}`);
    process.exit(1);
  }
  for (const [i, step] of steps.entries()) {
    if (interrupted || !(await runStep(i, step))) break;
  }
  if (!interrupted) await finish();
}

main().catch((err: unknown) => {
  view.line(`demo crashed: ${(err as Error).stack ?? String(err)}`);
  void finish();
});
