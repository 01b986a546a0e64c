/**
 * SDK benchmarks against netsessiond in a sandbox of network namespaces (the integration
 * harness). Figures, not pass/fail.
 *
 * (a) `createSession()` → resolved, i.e. CreateSession call → the daemon's first Update applied
 *     to the Session (createSession resolves on it), from this process over the sandbox's bus;
 *     interleaved with the same exchange by a bare dbus-next client (the floor), so the SDK's
 *     own cost is the difference. Then `destroy()`, and a pause, as in bench/daemon-latency.ts.
 *     Also the SDK's default path, the daemon's private socket (bus bypassed), interleaved.
 * (b) One HTTP GET through `session.fetch` vs undici's `fetch` with a plain Agent (same undici)
 *     vs Node's global `fetch`, interleaved, timed inside the device namespace by the SDK test
 *     driver: against the harness server (it announces a 1 s keep-alive, so undici opens a new
 *     connection per request: "new connection") and against a listener with a long keep-alive
 *     ("pooled connection").
 *
 * The daemon runs under tsx (as in the integration tests): its absolute latency is a little
 * higher than the compiled daemon's in bench/daemon-latency.ts; the SDK-vs-raw difference is
 * what this measures. Needs root and `ip netns`; otherwise prints why and returns.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { type CreateSessionOptions, createSession, DBusTransport } from '../lib/index.js';
import { startNetsessiond } from '../test/integration/harness/daemon.js';
import { createSandbox, integrationSkipReason, type Sandbox } from '../test/integration/harness/sandbox.js';
import { sandboxDaemonArgs } from '../test/integration/harness/test-daemon.js';
import { ConnmanClient, v } from '../test/integration/support/connman-client.js';
import { startSdkDriver } from '../test/integration/support/sdk-driver.js';
import { r3, summarize } from './stats.js';

/** Knobs of {@link runSdkBench}. */
export interface SdkBenchOptions {
  createRounds?: number;
  createWarmup?: number;
  fetchRounds?: number;
}

const LISTENERS = fileURLToPath(new URL('../test/integration/drivers/inet-listeners.cjs', import.meta.url));
const POOLED_PORT = 8080;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
type Row = Record<string, string | number | null>;

function row(what: string, xs: number[], extra: Row = {}): Row {
  const s = summarize(xs);
  return {
    measurement: what,
    n: s?.n ?? 0,
    'median ms': r3(s?.median),
    'min ms': r3(s?.min),
    'p90 ms': r3(s?.p90),
    'max ms': r3(s?.max),
    ...extra,
  };
}

async function startWorld(): Promise<Sandbox> {
  const sb = await createSandbox();
  const conf = join(sb.tmpDir, 'netsessiond.conf');
  writeFileSync(
    conf,
    [
      '[General]',
      'OnlineCheckMode = one-shot',
      'OnlineCheckInitialInterval = 1',
      'OnlineCheckMaxInterval = 1',
      '[Bearers]',
      'eth-a = ethernet',
      'eth-b = wifi',
      'eth-c = cellular',
      '',
    ].join('\n'),
  );
  const daemon = await startNetsessiond(sb, {
    args: sandboxDaemonArgs(sb, conf),
  });
  await daemon.waitForLine(/ready:/, { timeoutMs: 15_000 });
  return sb;
}

/** (a): SDK and raw client, interleaved round by round. */
async function benchCreate(sb: Sandbox, rounds: number, warmup: number): Promise<Row[]> {
  // The SDK's own cost is read on the bus, where the bare client calls too; the default
  // transport (the daemon's private socket) is timed beside them.
  const transport = new DBusTransport({ busAddress: sb.dbusAddress!, peer: false });
  const direct = new DBusTransport({ busAddress: sb.dbusAddress! });
  const raw = await ConnmanClient.connect(sb.dbusAddress!);
  const variants: Array<{
    name: string;
    sdk: CreateSessionOptions;
    wire: Parameters<ConnmanClient['createSession']>[0];
  }> = [
    { name: '{}', sdk: {}, wire: {} },
    {
      name: 'allowedInterface eth-b, sourceIPRule',
      sdk: { allowedInterface: 'eth-b', sourceIPRule: true },
      wire: { AllowedInterface: v.s('eth-b'), SourceIPRule: v.b(true) },
    },
  ];
  const rows: Row[] = [];
  let seq = 0;
  try {
    // Every uplink online first, so each round measures the same thing.
    const probe = await createSession({ transport, allowedBearers: ['cellular'], connectionType: 'internet' });
    await probe.waitFor('online', { timeout: 15_000 });
    await probe.destroy();
    for (const variant of variants) {
      const sdk: number[] = [];
      const sdkDirect: number[] = [];
      const bare: number[] = [];
      for (let i = 0; i < warmup + rounds; i++) {
        const t3 = performance.now();
        const d = await createSession({ transport: direct, ...variant.sdk });
        const t4 = performance.now();
        await d.destroy();
        await sleep(20);
        const t0 = performance.now();
        const s = await createSession({ transport, ...variant.sdk });
        const t1 = performance.now();
        await s.destroy();
        await sleep(20);
        const np = `/bench/sdk/n${++seq}`;
        const n = raw.notifier(np);
        const t2 = performance.now();
        const { path } = await raw.createSession(variant.wire, np);
        const first = await n.waitCount(1, 5_000);
        await raw.session(path).destroy();
        await sleep(20);
        if (i < warmup) continue;
        sdk.push(t1 - t0);
        sdkDirect.push(t4 - t3);
        bare.push(first.at - t2);
      }
      const ms = summarize(sdk)!.median;
      const mb = summarize(bare)!.median;
      rows.push(
        row(`createSession(${variant.name}) → resolved, on the bus`, sdk, {
          'raw client median ms': r3(mb),
          'SDK overhead ms': r3(ms - mb),
        }),
        row(`createSession(${variant.name}) → resolved, private socket (default)`, sdkDirect, {
          'raw client median ms': r3(mb),
          'SDK overhead ms': r3(summarize(sdkDirect)!.median - mb),
        }),
      );
    }
  } finally {
    await transport.close();
    await direct.close();
    raw.disconnect();
  }
  return rows;
}

/** (b): inside the device namespace, through the SDK test driver. */
async function benchFetch(sb: Sandbox, rounds: number): Promise<Row[]> {
  const listeners = sb.spawn(sb.inetNs, [
    process.execPath,
    LISTENERS,
    JSON.stringify({ addr: sb.inet.addr4, httpPort: POOLED_PORT, udpPort: 5300 }),
  ]);
  await listeners.waitForLine(/ready/, { stream: 'stdout' });
  const drv = await startSdkDriver(sb, 'bench-driver');
  // Pinned to eth-a, the uplink plain fetch takes too (main table): the same path for all three.
  await drv.call('create', { id: 'bench', options: { allowedInterface: 'eth-a', sourceIPRule: true } });
  const rows: Row[] = [];
  for (const [label, url] of [
    ['new connection', `http://${sb.inet.addr4}/bench?bytes=1024`],
    ['pooled connection', `http://${sb.inet.addr4}:${POOLED_PORT}/bench`],
  ] as const) {
    const samples = await drv.call<Record<string, number[]>>('benchFetch', { id: 'bench', url, rounds, warmup: 20 });
    const base = summarize(samples['undici fetch']!)!.median;
    for (const [client, xs] of Object.entries(samples)) {
      rows.push(row(`GET, ${label}: ${client}`, xs, { 'ratio to undici fetch': r3(summarize(xs)!.median / base) }));
    }
  }
  return rows;
}

/** Runs (a) and (b) and prints their tables. */
export async function runSdkBench(opts: SdkBenchOptions = {}): Promise<void> {
  const skip = integrationSkipReason();
  if (skip) {
    console.log(`# SDK benchmarks skipped: ${skip}`);
    return;
  }
  const sb = await startWorld();
  try {
    console.log('\n## createSession → first Update applied (SDK) vs a bare dbus-next client, same daemon, interleaved');
    console.table(await benchCreate(sb, opts.createRounds ?? 100, opts.createWarmup ?? 10));
    console.log('\n## one HTTP GET from the device namespace: session.fetch vs plain fetch (interleaved)');
    console.table(await benchFetch(sb, opts.fetchRounds ?? 200));
  } finally {
    await sb.destroy();
  }
}

// Run directly: `node --import tsx bench/sdk.ts`.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await runSdkBench();
