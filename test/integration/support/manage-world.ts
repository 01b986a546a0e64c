/**
 * Shared pieces of the manage-mode and DHCP integration tests: the tool check that decides
 * whether a file can run, and a view of the world (services over D-Bus, main-table default
 * routes) whose waits report what they last saw plus the daemon's log tail on failure.
 */
import { execFileSync } from 'node:child_process';
import { waitFor } from '../harness/exec.js';
import { type DevRoute, requireRoot, type Sandbox } from '../harness/sandbox.js';
import type { TestDaemon } from '../harness/test-daemon.js';
import type { ConnmanClient } from './connman-client.js';

/** ConnMan's low-priority metric, written out independently of the daemon's code. */
export const lowMetric = (ifindex: number): number => 0xffff_ffff - 1024 * ifindex;

/**
 * True when the file can run: root and every tool in `tools`. Otherwise prints why and skips,
 * or throws under NETSESSION_INTEGRATION=require.
 */
export function canRunWith(file: string, tools: readonly string[], install: string): boolean {
  if (!requireRoot()) return false;
  const missing = tools.filter((t) => {
    try {
      execFileSync('sh', ['-c', `command -v ${t}`], {
        stdio: 'ignore',
        env: { PATH: `${process.env.PATH ?? ''}:/usr/sbin:/sbin` },
      });
      return false;
    } catch {
      return true;
    }
  });
  if (missing.length === 0) return true;
  const reason = `missing ${missing.join(', ')} (apt-get install -y ${install})`;
  if (process.env.NETSESSION_INTEGRATION === 'require')
    throw new Error(`integration tests required but cannot run: ${reason}`);
  console.warn(`[integration] skipping ${file}: ${reason}`);
  return false;
}

/** A service as GetServices lists it (values unwrapped). */
export type Svc = { path: string; props: Record<string, unknown> };

export const connected = (state: unknown): boolean => state === 'ready' || state === 'online';

/** Waits until `check` returns a value (not undefined). */
export const until = <T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> =>
  waitFor(what, check, { timeoutMs, intervalMs: 100 });

/** Default routes as comparable `family dev gateway metric` tuples, sorted. */
export const routeTuples = (routes: readonly DevRoute[]): string[] =>
  routes.map((r) => `${r.family} ${r.dev} ${r.gateway ?? '-'} ${r.metric}`).sort();

/** The world's current sandbox, daemon and client (tests replace them, e.g. after a restart). */
export interface World {
  sb: Sandbox;
  td: TestDaemon;
  client: ConnmanClient;
}

/** Helpers over whatever `world()` returns at call time. */
export function manageView(world: () => World) {
  const tail = (): string => {
    const d = world().td.daemon;
    return (d.stdout + d.stderr).split('\n').slice(-40).join('\n');
  };
  return {
    tail,
    async service(name: string): Promise<Svc> {
      const s = (await world().client.services()).find((x) => x.props.Name === name);
      if (!s) throw new Error(`no service ${name}`);
      return s;
    },
    /** Waits until the main table's default routes are exactly `want`. */
    async waitRoutes(what: string, want: readonly string[]): Promise<void> {
      const wanted = JSON.stringify([...want].sort());
      let last: string[] = [];
      try {
        await until(what, async () => {
          last = routeTuples(await world().sb.defaultRoutes());
          return JSON.stringify(last) === wanted ? true : undefined;
        });
      } catch (err) {
        throw new Error(
          `${(err as Error).message}\nwant ${wanted}\ngot  ${JSON.stringify(last)}\ndaemon log tail:\n${tail()}`,
        );
      }
    },
  };
}
