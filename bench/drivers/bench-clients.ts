/**
 * The two clients the call-path benches drive both daemons with, behind one small interface: the
 * test suite's dbus-next ConnmanClient (the rows earlier runs printed, kept for continuity) and
 * the lib/dbus FastClient (close to what a C client costs, so the rows show the daemons rather
 * than the client). Also the Peer.Ping floor: what a round trip through the bus costs at all.
 */
import { performance } from 'node:perf_hooks';
import { ConnmanClient } from '../../test/integration/support/connman-client.js';
import { summarize } from '../stats.js';
import { FastClient, type Setting } from './fast-client.js';

/**
 * Which client a row was measured with. `lib/dbus direct` is the lib/dbus client reaching the
 * daemon as the SDK does: on netsessiond's private socket (bus bypassed), on the bus to connmand,
 * which has none.
 */
export type ClientKind = 'lib/dbus direct' | 'lib/dbus' | 'dbus-next';

/** One client, as the benches use it. */
export interface BenchClient {
  readonly kind: ClientKind;
  /** CreateSession; `firstUpdate()` resolves with the time the first Update was read. */
  create(
    settings: Record<string, Setting>,
    notifier: string,
  ): Promise<{ path: string; repliedAt: number; firstUpdate(timeoutMs?: number): Promise<number> }>;
  destroy(path: string): Promise<void>;
  close(): void;
}

/** A connected client of `kind` on the bus at `address`. */
export async function connectBenchClient(kind: ClientKind, address: string): Promise<BenchClient> {
  if (kind !== 'dbus-next') {
    const c =
      kind === 'lib/dbus' ? await FastClient.connect(address) : (await FastClient.connectDirect(address)).client;
    return {
      kind,
      async create(settings, notifier) {
        const { path, repliedAt, n } = await c.createSession(settings, notifier);
        return {
          path,
          repliedAt,
          firstUpdate: async (timeoutMs) => {
            const u = await n!.waitCount(1, timeoutMs);
            c.forget(notifier);
            return u.at;
          },
        };
      },
      async destroy(path) {
        await c.destroy(path);
      },
      close: () => c.close(),
    };
  }
  const c = await ConnmanClient.connect(address);
  return {
    kind,
    async create(settings, notifier) {
      const n = c.notifier(notifier);
      const { path, repliedAt } = await c.createSession(
        settings as Parameters<ConnmanClient['createSession']>[0],
        notifier,
      );
      return { path, repliedAt, firstUpdate: async (timeoutMs) => (await n.waitCount(1, timeoutMs)).at };
    },
    async destroy(path) {
      await c.session(path).destroy();
    },
    close: () => c.disconnect(),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Peer.Ping medians (ms): `paced` 20 ms apart, `backToBack` one after the other. */
export interface PingFloor {
  paced: number | null;
  backToBack: number | null;
}

/** Measures {@link PingFloor} to `destination` with `client` (warm-up excluded). */
export async function pingFloor(
  client: FastClient,
  destination: string,
  opts: { paced?: number; backToBack?: number } = {},
): Promise<PingFloor> {
  const paced: number[] = [];
  for (let i = 0; i < 20 + (opts.paced ?? 200); i++) {
    const t0 = performance.now();
    await client.ping(destination);
    if (i >= 20) paced.push(performance.now() - t0);
    await sleep(20);
  }
  const hot: number[] = [];
  for (let i = 0; i < 200 + (opts.backToBack ?? 2000); i++) {
    const t0 = performance.now();
    await client.ping(destination);
    if (i >= 200) hot.push(performance.now() - t0);
  }
  return { paced: summarize(paced)?.median ?? null, backToBack: summarize(hot)?.median ?? null };
}
