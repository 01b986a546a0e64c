/**
 * netsessionctl against a real netsessiond in a sandbox (device with eth-a ethernet, eth-b wifi,
 * eth-c cellular; nftables datapath; cgroup2 mounted for the daemon). Every command runs as a
 * child process in the device namespace, the way a person would run it, with --json parsed.
 *
 * | command                         | proven                                                         |
 * |---------------------------------|----------------------------------------------------------------|
 * | state, services, technologies   | JSON values; human output has the values                       |
 * | disable/enable, offline on/off  | the daemon's state follows; no change is `changed: false`      |
 * | session create                  | first line is the session, a failover prints an update, SIGINT destroys it |
 * | sessions, stats                 | root sees the other process's session with owner, uid, service |
 * | monitor --json                  | a carrier loss shows up as a services line                     |
 * | run                             | the command's HTTP request leaves via eth-c (server log, router counters) while the same command outside leaves via eth-a; exit status passed on; session and cgroup gone after |
 * | connect/disconnect/autoconnect  | observed link: disconnect/autoconnect refused (NotSupported), exit 1; connect of a connected one is `changed: false` (D4); unknown service: exit 1 |
 * | (manage mode, eth-a managed)    | by interface, id and path: eth-a idle / connected again, `changed: false` when already so, AutoConnect persisted; their doc examples run |
 * | bad command lines               | one line on stderr, exit 2                                     |
 * | no daemon / no bus              | exit 3                                                         |
 * | docs/netsessionctl.md           | every command shown there runs and succeeds                    |
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseArgs } from '../../bin/cli/args.js';
import { cgroup2Mounts } from '../../bin/cli/cgroup.js';
import { waitFor } from './harness/exec.js';
import {
  type CommandResult,
  createSandbox,
  requireRoot,
  type Sandbox,
  type SandboxProcess,
} from './harness/sandbox.js';
import { startTestDaemon, type TestDaemon } from './harness/test-daemon.js';
import { CLI, jsonIn, jsonLine, NODE, runCtl, spawnCtlIn } from './support/cli-driver.js';
import { docCommands } from './support/doc-commands.js';

const supported = requireRoot();

let sb: Sandbox;
let daemon: SandboxProcess;

function ctl(args: readonly string[], timeoutMs = 60_000, box: Sandbox = sb): Promise<CommandResult> {
  return runCtl(box, args, timeoutMs);
}

/** Runs `--json ARGS` against the main sandbox's daemon. */
function json<T = unknown>(...args: string[]): Promise<T> {
  return jsonIn<T>(sb, ...args);
}

/** Commands that switch a service of a managed link: their doc examples run in the manage-mode block. */
const MANAGE_COMMANDS: ReadonlySet<string> = new Set(['connect', 'autoconnect']);

function spawnCtl(args: readonly string[]): SandboxProcess {
  return spawnCtlIn(sb, args);
}

interface Service {
  path: string;
  interface: string | null;
  bearer: string | null;
  state: string;
}
interface ListEntry {
  path: string;
  owner: string;
  uid: number;
  service: string | null;
  cgroups: string[];
  settings: { interface: string | null; state: string; allowedBearers: string[] };
  rxBytes: number | null;
  txBytes: number | null;
}
interface Stats {
  path: string;
  rxBytes: number;
  txBytes: number;
  rxPackets: number;
  txPackets: number;
}

async function allOnline(): Promise<void> {
  await waitFor(
    'all three services online',
    async () => {
      const r = await ctl(['--json', 'services']);
      if (r.code !== 0) return undefined;
      const list = JSON.parse(r.stdout) as Service[];
      return list.length === 3 && list.every((s) => s.state === 'online') ? true : undefined;
    },
    { timeoutMs: 30_000, intervalMs: 200 },
  );
}

/** A node one-liner that GETs `path` from the internet host and exits 0 on a 200. */
function fetchScript(path: string): string {
  return `fetch('http://${sb.inet.addr4}${path}').then(async (r) => { await r.arrayBuffer(); process.exit(r.status === 200 ? 0 : 8); }, (e) => { console.error(e.message); process.exit(9); })`;
}

async function clientOf(path: string): Promise<string | null> {
  return (await sb.httpLog()).find((e) => e.path === path)?.client ?? null;
}

describe.skipIf(!supported)('netsessionctl', () => {
  beforeAll(async () => {
    sb = await createSandbox();
    ({ daemon } = await startTestDaemon(sb, { mountCgroup2: true, args: ['--firewall', 'nftables', '--debug'] }));
    await allOnline();
  }, 120_000);

  afterAll(async () => {
    await sb?.destroy();
    // run leaves its (empty) parent cgroup for the next run; the tests take theirs away. Another
    // run using it at this moment keeps it (rmdir fails on a cgroup with children).
    const mount = cgroup2Mounts(readFileSync('/proc/self/mountinfo', 'utf8'))[0];
    try {
      if (mount) rmdirSync(join(mount.mountPoint, 'netsession.run'));
    } catch {
      // gone already, or in use
    }
  });

  it('state, services, technologies (JSON and text)', async () => {
    expect(await json('state')).toEqual({ state: 'online', offlineMode: false, sessionMode: false });
    const services = await json<Service[]>('services');
    expect(services.map((s) => [s.interface, s.bearer, s.state])).toEqual([
      ['eth-a', 'ethernet', 'online'],
      ['eth-b', 'wifi', 'online'],
      ['eth-c', 'cellular', 'online'],
    ]);
    expect(services[0]!.path).toMatch(/^\/net\/connman\/service\/ethernet_[0-9a-f]{12}_cable$/);
    expect(await json('technologies')).toEqual([
      {
        path: '/net/connman/technology/ethernet',
        type: 'ethernet',
        name: 'Wired',
        powered: true,
        connected: true,
        tethering: false,
      },
      {
        path: '/net/connman/technology/wifi',
        type: 'wifi',
        name: 'WiFi',
        powered: true,
        connected: true,
        tethering: false,
      },
      {
        path: '/net/connman/technology/cellular',
        type: 'cellular',
        name: 'Cellular',
        powered: true,
        connected: true,
        tethering: false,
      },
    ]);

    const state = await ctl(['state']);
    expect(state.code).toBe(0);
    expect(state.stdout).toContain('State:        online');
    expect(state.stdout).toContain('OfflineMode:  off');
    const text = await ctl(['services']);
    expect(text.code).toBe(0);
    expect(text.stdout.split('\n')[0]).toMatch(/^INTERFACE\s+BEARER\s+STATE\s+NAME\s+PATH$/);
    expect(text.stdout).toMatch(/\neth-b\s+wifi\s+online\s+eth-b\s+\/net\/connman\/service\/wifi_/);
    expect((await ctl(['technologies'])).stdout).toMatch(/\ncellular\s+Cellular\s+yes\s+yes/);
  });

  it('disable/enable a technology and OfflineMode on/off change the daemon', async () => {
    expect(await json('disable', 'wifi')).toEqual({ technology: 'wifi', powered: false, changed: true });
    expect(await json('disable', 'wifi')).toEqual({ technology: 'wifi', powered: false, changed: false });
    expect(
      (await json<Array<{ type: string; powered: boolean }>>('technologies')).find((t) => t.type === 'wifi')!.powered,
    ).toBe(false);
    expect((await json<Service[]>('services')).find((s) => s.interface === 'eth-b')!.state).toBe('idle');
    expect(await json('enable', 'wifi')).toEqual({ technology: 'wifi', powered: true, changed: true });
    await allOnline();

    expect(await json('offline', 'on')).toEqual({ state: 'offline', offlineMode: true, sessionMode: false });
    expect((await json<Service[]>('services')).map((s) => s.state)).toEqual(['idle', 'idle', 'idle']);
    const off = await ctl(['offline', 'off']);
    expect(off.code).toBe(0);
    expect(off.stdout).toContain('OfflineMode:  off');
    await allOnline();
  });

  it('session create: the session, its updates, and root sees it in sessions and stats until SIGINT', async () => {
    const proc = spawnCtl(['--json', 'session', 'create', '--bearers', 'wifi,ethernet']);
    const first = await jsonLine<{
      event: string;
      path: string;
      settings: { interface: string; bearer: string; state: string };
    }>(proc, (o) => o.event === 'session');
    expect(first.settings).toMatchObject({ interface: 'eth-b', bearer: 'wifi', state: 'online' });

    const listed = (await json<ListEntry[]>('sessions')).find((s) => s.path === first.path);
    expect(listed).toMatchObject({
      uid: 0,
      cgroups: [],
      settings: { interface: 'eth-b', allowedBearers: ['wifi', 'ethernet'] },
    });
    // The CLI creates it through the SDK, on the daemon's private socket.
    expect(listed!.owner).toMatch(/^:peer\.\d+$/);
    expect(listed!.service).toMatch(/^\/net\/connman\/service\/wifi_[0-9a-f]{12}_eth_b$/);
    expect(typeof listed!.rxBytes).toBe('number');
    expect((await ctl(['sessions'])).stdout).toContain(first.path);
    const all = await json<Stats[]>('stats');
    expect(all.find((s) => s.path === first.path)).toMatchObject({
      rxBytes: expect.any(Number),
      txPackets: expect.any(Number),
    });
    expect(await json<Stats>('stats', first.path)).toMatchObject({ path: first.path, rxBytes: expect.any(Number) });

    // Failover prints an update.
    await sb.setCarrier('eth-b', false);
    const moved = await jsonLine<{ event: string; changes: { interface?: string } }>(
      proc,
      (o) => o.event === 'update' && o.changes.interface === 'eth-a',
    );
    expect(moved.changes).toMatchObject({ interface: 'eth-a', bearer: 'ethernet' });
    await sb.setCarrier('eth-b', true);

    const exit = await proc.kill('SIGINT');
    expect(exit).toEqual({ code: 0, signal: null });
    expect(JSON.parse(proc.stdout.trim().split('\n').at(-1)!)).toEqual({
      event: 'end',
      path: first.path,
      reason: 'destroyed',
    });
    expect((await json<ListEntry[]>('sessions')).some((s) => s.path === first.path)).toBe(false);
    await allOnline();
  });

  it('session create prints text by default', async () => {
    const proc = spawnCtl(['session', 'create', '--interface', 'eth-c']);
    await proc.waitForLine(/^online eth-c cellular 198\.51\.100\.26/, { timeoutMs: 20_000 });
    expect(proc.stdout).toMatch(/^session \/sessions\/\S+\n/);
    expect(await proc.kill('SIGINT')).toEqual({ code: 0, signal: null });
  });

  it('monitor --json shows a service change', async () => {
    const proc = spawnCtl(['--json', 'monitor', '--interval', '200']);
    const first = await jsonLine<{ event: string; services: Service[] }>(proc, (o) => o.event === 'services');
    expect(first.services.map((s) => s.state)).toEqual(['online', 'online', 'online']);
    await jsonLine<{ event: string; sessions: unknown }>(
      proc,
      (o) => o.event === 'sessions' && Array.isArray(o.sessions),
    );
    await sb.setCarrier('eth-c', false);
    const change = await jsonLine<{ event: string; services: Service[] }>(
      proc,
      (o) => o.event === 'services' && o.services.some((s) => s.interface === 'eth-c' && s.state !== 'online'),
    );
    expect(change.services.find((s) => s.interface === 'eth-a')!.state).toBe('online');
    await sb.setCarrier('eth-c', true);
    await jsonLine<{ event: string; services: Service[] }>(
      proc,
      (o) => o.event === 'services' && o.services.every((s) => s.state === 'online'),
    );
    expect(await proc.kill('SIGINT')).toEqual({ code: 0, signal: null });
  });

  it("run: the command's traffic leaves through the session's uplink; the same command outside does not", async () => {
    const tag = randomBytes(3).toString('hex');
    const before = await sb.routerCounters('eth-c');
    const inside = `/cli-run-${tag}`;
    const r = await ctl(['run', '--interface', 'eth-c', '--', NODE, '-e', fetchScript(inside)]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(await clientOf(inside)).toBe(sb.uplink('eth-c').devAddr4);
    const after = await sb.routerCounters('eth-c');
    expect(after.fwdOut).toBeGreaterThan(before.fwdOut);

    const outside = `/cli-norun-${tag}`;
    const plain = await sb.run(sb.devNs, [NODE, '-e', fetchScript(outside)], { allowFail: true });
    expect(plain.code).toBe(0);
    expect(await clientOf(outside)).toBe(sb.uplink('eth-a').devAddr4);
  });

  it('run: the session claims the cgroup while the command runs, and both are gone after', async () => {
    // The command is netsessionctl itself, listing the sessions from inside the run.
    const r = await ctl(['run', '--interface', 'eth-c', '--', NODE, '--import', 'tsx', CLI, '--json', 'sessions']);
    expect(r.code).toBe(0);
    const own = (JSON.parse(r.stdout) as ListEntry[]).filter((s) => s.cgroups.length > 0);
    expect(own).toHaveLength(1);
    expect(own[0]).toMatchObject({ uid: 0, settings: { interface: 'eth-c' } });
    const cgroup = own[0]!.cgroups[0]!;
    expect(cgroup).toMatch(/^\/netsession\.run\/\d+$/);
    expect((await json<ListEntry[]>('sessions')).some((s) => s.path === own[0]!.path)).toBe(false);
    const mount = cgroup2Mounts(readFileSync('/proc/self/mountinfo', 'utf8'))[0]!;
    expect(existsSync(join(mount.mountPoint, cgroup))).toBe(false);
  });

  it('run: passes on the exit status (and 128+N for a signal) and the session path', async () => {
    expect((await ctl(['run', '--', 'sh', '-c', 'exit 7'])).code).toBe(7);
    expect((await ctl(['run', '--', 'sh', '-c', 'kill -TERM $$'])).code).toBe(128 + 15);
    const env = await ctl([
      'run',
      '--bearers',
      'cellular',
      '--wait',
      '--',
      'sh',
      '-c',
      'echo "$NETSESSION_SESSION $NETSESSION_CGROUP"',
    ]);
    expect(env.code).toBe(0);
    expect(env.stdout.trim()).toMatch(/^\/sessions\/\S+ \/netsession\.run\/\d+$/);
    const missing = await ctl(['run', '--', 'no-such-command-here']);
    expect(missing.code).toBe(127);
  });

  it('stats: the bytes a run command downloads are counted in its session', async () => {
    const download = `/cli-stats-${randomBytes(3).toString('hex')}?bytes=300000`;
    const script = `${NODE} -e "${fetchScript(download).replace(/"/g, '\\"')}" && ${NODE} --import tsx ${CLI} --json stats "$NETSESSION_SESSION"`;
    const r = await ctl(['run', '--interface', 'eth-c', '--', 'sh', '-c', script]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const stats = JSON.parse(r.stdout) as Stats;
    expect(stats.path).toMatch(/^\/sessions\//);
    expect(stats.rxBytes).toBeGreaterThanOrEqual(300_000);
    expect(stats.txPackets).toBeGreaterThan(0);
  });

  it("connect, disconnect, autoconnect on observed links: the daemon's refusal, exit 1; an unknown service: exit 1", async () => {
    const ethA = (await json<Service[]>('services'))[0]!.path;
    // ConnMan's answer for a connected service comes first, observed or not (dbus-api.md D4).
    expect(await json('connect', 'eth-a')).toEqual({
      service: ethA,
      interface: 'eth-a',
      connected: true,
      changed: false,
    });
    for (const args of [
      ['disconnect', 'eth-b'],
      ['autoconnect', 'eth-c', 'off'],
    ]) {
      const r = await ctl(['--json', ...args]);
      expect({ args, code: r.code, stdout: r.stdout }).toEqual({ args, code: 1, stdout: '' });
      expect(r.stderr.trimEnd().split('\n'), args.join(' ')).toHaveLength(1);
      expect(r.stderr, args.join(' ')).toMatch(/^netsessionctl: .*observe mode/);
    }
    const unknown = await ctl(['disconnect', 'eth-x']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toBe("netsessionctl: no service 'eth-x' (the daemon has eth-a, eth-b, eth-c)\n");
    // Nothing changed.
    expect((await json<Service[]>('services')).map((s) => s.state)).toEqual(['online', 'online', 'online']);
  });

  it('bad command lines: one line on stderr, exit 2', async () => {
    for (const args of [
      ['frobnicate'],
      ['state', '--frob'],
      ['session', 'create', '--bearers', 'lte'],
      ['run', 'echo', 'hi'],
    ]) {
      const r = await ctl(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr.trimEnd().split('\n'), args.join(' ')).toHaveLength(1);
      expect(r.stderr).toMatch(/^netsessionctl: /);
    }
    expect((await ctl(['run', 'echo', 'hi'])).stderr).toContain("missing '--'");
    expect((await ctl(['session', 'create', '--bearers', 'lte'])).stderr).toContain("unknown bearer 'lte'");
  });

  it('every command in docs/netsessionctl.md runs and succeeds', async () => {
    // A session to stand in for the example session path.
    const holder = spawnCtl(['--json', 'session', 'create']);
    const { path } = await jsonLine<{ event: string; path: string }>(holder, (o) => o.event === 'session');
    const commands = docCommands();
    expect(commands.length).toBeGreaterThan(10);
    for (const doc of commands) {
      const args = doc.map((a, i) =>
        a.startsWith('/sessions/') ? path : doc[i - 1] === '--bus' ? sb.dbusAddress! : a,
      );
      const command = parseArgs(args).command;
      const name = command.name;
      if (MANAGE_COMMANDS.has(name)) continue;
      if (name === 'session-create' || name === 'monitor') {
        const proc = spawnCtl(args);
        await waitFor(
          `output of ${args.join(' ')}`,
          () => (proc.stdout.length > 0 ? true : proc.exitStatus ? Promise.reject(new Error(proc.stderr)) : undefined),
          { timeoutMs: 20_000 },
        );
        expect(await proc.kill('SIGINT'), args.join(' ')).toEqual({ code: 0, signal: null });
        continue;
      }
      const r = await ctl(args);
      expect({ args: args.join(' '), code: r.code, stderr: r.stderr }).toEqual({
        args: args.join(' '),
        code: 0,
        stderr: '',
      });
      if (args.includes('--json') && name !== 'run') expect(() => JSON.parse(r.stdout)).not.toThrow();
      // Commands that switch something back on: the uplinks need a moment to be online again.
      if ((command.name === 'power' && command.on) || (command.name === 'offline' && !command.on)) await allOnline();
    }
    expect(await holder.kill('SIGINT')).toEqual({ code: 0, signal: null });
  });

  it('no daemon on the bus, or no bus: exit 3', async () => {
    const noBus = await ctl(['--bus', `unix:path=${join(sb.tmpDir, 'no-such-bus')}`, 'state']);
    expect(noBus.code).toBe(3);
    expect(noBus.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(noBus.stderr).toMatch(/^netsessionctl: cannot connect to the bus/);

    await daemon.kill('SIGTERM');
    const r = await ctl(['--json', 'services']);
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^netsessionctl: no session daemon on the bus: is netsessiond \(or connmand\) running\?/);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
  });
});

/**
 * The service commands against a daemon in manage mode: eth-a managed (static addresses from a
 * provisioning file), eth-b and eth-c observed as in the block above. A sandbox of its own, so
 * the block above keeps its observed world.
 */
describe.skipIf(!supported)('netsessionctl on a managed link', () => {
  let msb: Sandbox;
  let td: TestDaemon;
  const WIRED =
    '[service_a]\nType = ethernet\nDeviceName = eth-a\nIPv4 = 198.51.100.10/255.255.255.248/198.51.100.9\nIPv6 = off\n';

  const ethA = async (): Promise<Service> =>
    (await jsonIn<Service[]>(msb, 'services')).find((s) => s.interface === 'eth-a')!;
  const connected = (state: string): boolean => state === 'ready' || state === 'online';
  const until = (what: string, ok: (s: Service) => boolean): Promise<true> =>
    waitFor(what, async () => (ok(await ethA()) ? true : undefined), { timeoutMs: 20_000, intervalMs: 200 });

  beforeAll(async () => {
    msb = await createSandbox();
    await msb.bareUplink('eth-a');
    const provDir = join(msb.tmpDir, 'provisioning');
    mkdirSync(provDir, { recursive: true });
    writeFileSync(join(provDir, 'wired.config'), WIRED);
    td = await startTestDaemon(msb, {
      args: ['--debug'],
      general: ['ManageInterfaces = eth-a', `ProvisioningDir = ${provDir}`],
    });
    await until('eth-a connected by the daemon', (s) => connected(s.state));
  }, 120_000);

  afterAll(async () => {
    await msb?.destroy();
  });

  it('disconnect and connect by interface name, id and path; already so is changed: false', async () => {
    const path = (await ethA()).path;
    const id = path.slice('/net/connman/service/'.length);
    expect(await jsonIn(msb, 'disconnect', 'eth-a')).toEqual({
      service: path,
      interface: 'eth-a',
      connected: false,
      changed: true,
    });
    await until('eth-a idle', (s) => s.state === 'idle');
    expect(await msb.addresses('eth-a', 4)).toEqual([]);
    expect(await jsonIn(msb, 'disconnect', path)).toEqual({
      service: path,
      interface: 'eth-a',
      connected: false,
      changed: false,
    });

    const up = await ctl(['connect', id], 60_000, msb);
    expect({ code: up.code, stdout: up.stdout, stderr: up.stderr }).toEqual({
      code: 0,
      stdout: 'eth-a: connected\n',
      stderr: '',
    });
    // Connect replies once the service is up.
    expect(connected((await ethA()).state)).toBe(true);
    expect((await msb.addresses('eth-a', 4)).map((a) => `${a.local}/${a.prefixlen}`)).toEqual(['198.51.100.10/29']);
    expect(await jsonIn(msb, 'connect', 'eth-a')).toEqual({
      service: path,
      interface: 'eth-a',
      connected: true,
      changed: false,
    });
  });

  it('autoconnect off/on is stored by the daemon; the observed eth-c stays refused', async () => {
    const path = (await ethA()).path;
    const id = path.slice('/net/connman/service/'.length);
    const saved = (): boolean | undefined =>
      (
        JSON.parse(readFileSync(join(td.stateDir, 'settings'), 'utf8')) as {
          services?: Record<string, { autoConnect?: boolean }>;
        }
      ).services?.[id]?.autoConnect;
    expect(await jsonIn(msb, 'autoconnect', 'eth-a', 'off')).toEqual({
      service: path,
      interface: 'eth-a',
      autoConnect: false,
    });
    expect(saved()).toBe(false);
    // Off alone does not take the connected service down.
    expect(connected((await ethA()).state)).toBe(true);
    const on = await ctl(['autoconnect', path, 'on'], 60_000, msb);
    expect({ code: on.code, stdout: on.stdout, stderr: on.stderr }).toEqual({
      code: 0,
      stdout: 'eth-a: autoconnect on\n',
      stderr: '',
    });
    expect(saved()).toBe(true);

    const observed = await ctl(['autoconnect', 'eth-c', 'off'], 60_000, msb);
    expect(observed.code).toBe(1);
    expect(observed.stderr.trimEnd().split('\n')).toHaveLength(1);
  });

  it('the connect, disconnect and autoconnect commands in docs/netsessionctl.md run and succeed', async () => {
    const commands = docCommands().filter((doc) => MANAGE_COMMANDS.has(parseArgs(doc).command.name));
    expect(commands.length).toBeGreaterThanOrEqual(4);
    for (const args of commands) {
      const r = await ctl(args, 60_000, msb);
      expect({ args: args.join(' '), code: r.code, stderr: r.stderr }).toEqual({
        args: args.join(' '),
        code: 0,
        stderr: '',
      });
      if (args.includes('--json')) expect(() => JSON.parse(r.stdout)).not.toThrow();
    }
    await until('eth-a connected after the doc commands', (s) => connected(s.state));
  });
});
