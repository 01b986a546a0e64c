/**
 * ConnMan's own client, `connmanctl` (Debian's connman 1.41, only the client binary; no connmand
 * runs), against netsessiond on the sandbox's private system bus. The setup is the one of
 * daemon-sessions.test.ts: eth-a ethernet, eth-b wifi, eth-c cellular, all online at start.
 *
 * | connmanctl                                      | expected                                                           |
 * |-------------------------------------------------|--------------------------------------------------------------------|
 * | state                                           | State/OfflineMode/SessionMode as Manager.GetProperties             |
 * | services                                        | one `*AO name id` line per service, in GetServices order           |
 * | services <id>                                   | every GetProperties key, with the uplink's addresses               |
 * | technologies                                    | Type/Powered/Connected per technology as GetTechnologies           |
 * | disable / enable cellular (check down on eth-c) | Powered follows, eth-c idle (no flags), then `*AR`, then `*AO`     |
 * | session on --bearers --type --ifname --srciprule --ctxid | created, first Update with all keys, daemon lists the session |
 * | session config --ifname/--type/--srciprule      | one Update each, as the daemon sees it                             |
 * | session config --ctxid                          | Change("ctxid") -> InvalidArguments (as ConnMan), nothing changes  |
 * | session disconnect / connect / off              | disconnected / connected / ended, session gone                     |
 * | as nobody: disable wifi                         | PermissionDenied (only root powers technologies), wifi stays on    |
 * | as nobody: session connect (non-interactive)    | connected, listed with its uid; gone once connmanctl is killed     |
 * | daemon stops (SIGTERM)                          | connmanctl prints "Session … released"                             |
 */
import { execFileSync } from 'node:child_process';
import { closeSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NETSESSION_MANAGER_INTERFACE } from '../../lib/protocol.js';
import { waitFor } from './harness/exec.js';
import { createSandbox, type RunAs, requireRoot, type Sandbox, type SandboxProcess } from './harness/sandbox.js';
import { startTestDaemon } from './harness/test-daemon.js';
import { CallError, ConnmanClient, unwrap, v } from './support/connman-client.js';

const CONNMANCTL = '/usr/bin/connmanctl';

function connmanctlSkipReason(): string | null {
  for (const tool of [CONNMANCTL, 'stdbuf']) {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    } catch {
      return `${tool} not found (apt-get install -y connman coreutils; scripts/install-deps.sh keeps connmand from starting)`;
    }
  }
  return null;
}

const supported = (() => {
  if (!requireRoot()) return false;
  const reason = connmanctlSkipReason();
  if (reason === null) return true;
  if (process.env.NETSESSION_INTEGRATION === 'require')
    throw new Error(`integration tests required but cannot run: ${reason}`);
  console.warn(`[integration] skipping connmanctl tests: ${reason}`);
  return false;
})();

/**
 * connmanctl's output as plain lines: no ANSI sequences, no readline prompt, `\r` redraws as
 * line breaks (interactive mode prints "connmanctl> \r\x1b[K" before each asynchronous line).
 */
function plainLines(raw: string): string[] {
  return raw
    .replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '')
    .replace(/\r/g, '\n')
    .replace(/connmanctl> /g, '\n')
    .split('\n')
    .filter((l) => l.trim() !== '');
}

/** `  Key = value` lines (state, services <id>, technologies) as a record. */
function keyValues(lines: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of lines) {
    const m = /^\s*(\S+) =(?: (.*))?$/.exec(l);
    if (m) out[m[1]!] = m[2] ?? '';
  }
  return out;
}

/** Every `Session      Update = { … }` block connmanctl printed, in order. */
function sessionUpdates(lines: readonly string[]): Array<Record<string, string>> {
  const out: Array<Record<string, string>> = [];
  let cur: string[] | null = null;
  for (const l of lines) {
    if (/^Session\s+Update\s+= \{$/.test(l)) cur = [];
    else if (cur && l === '}') {
      out.push(keyValues(cur));
      cur = null;
    } else cur?.push(l);
  }
  return out;
}

/** connmanctl's three flag columns for a service, from its D-Bus properties (client/services.c). */
function flagsOf(props: Record<string, unknown>): string {
  const state = props.State === 'online' ? 'O' : props.State === 'ready' ? 'R' : ' ';
  return `${props.Favorite ? '*' : ' '}${props.AutoConnect ? 'A' : ' '}${state}`;
}

/** `*AO eth-a                ethernet_020000000001_cable` -> [flags, name, id]. */
function serviceLines(lines: readonly string[]): Array<[string, string, string]> {
  return lines.map((l) => {
    const m = /^(.{3}) (\S.*?)\s+(\S+)$/.exec(l);
    if (!m) throw new Error(`not a service line: ${JSON.stringify(l)}`);
    return [m[1]!, m[2]!, m[3]!];
  });
}

const lastElement = (path: string): string => path.slice(path.lastIndexOf('/') + 1);

let sb: Sandbox;
let daemon: SandboxProcess;
let client: ConnmanClient;

interface CtlResult {
  stdout: string;
  stderr: string;
  code: number;
  lines: string[];
  /** Raw output, for failure messages. */
  raw: string;
}

/** A user that is not root (the bus policy of the sandbox lets it call net.connman). */
const NOBODY: RunAs = { uid: 65534, gid: 65534 };

/** One non-interactive connmanctl run in the device namespace, on the private bus. */
async function ctlAs(user: RunAs | undefined, ...args: string[]): Promise<CtlResult> {
  const r = await sb.run(sb.devNs, [CONNMANCTL, ...args], {
    allowFail: true,
    timeoutMs: 15_000,
    ...(user ? { user } : {}),
  });
  const raw = `$ connmanctl ${args.join(' ')}  (exit ${r.code})\n--- stdout\n${r.stdout}--- stderr\n${r.stderr}`;
  return { ...r, lines: plainLines(r.stdout), raw };
}

const ctl = (...args: string[]): Promise<CtlResult> => ctlAs(undefined, ...args);

/**
 * Interactive connmanctl: its stdin is a FIFO the test writes commands into (readline reads a
 * pipe as happily as a tty), stdout goes through `stdbuf -oL` so every line arrives as printed.
 */
class InteractiveCtl {
  readonly #fd: number;

  private constructor(
    readonly proc: SandboxProcess,
    fd: number,
  ) {
    this.#fd = fd;
  }

  static start(name: string): InteractiveCtl {
    const fifo = join(sb.tmpDir, `${name}.stdin`);
    execFileSync('mkfifo', [fifo]);
    // O_RDWR: opening a FIFO this way never blocks, and the reader sees EOF only when we close it.
    const fd = openSync(fifo, 'r+');
    const proc = sb.spawn(sb.devNs, ['sh', '-c', 'exec stdbuf -oL -eL "$0" < "$1"', CONNMANCTL, fifo]);
    return new InteractiveCtl(proc, fd);
  }

  get lines(): string[] {
    return plainLines(this.proc.stdout);
  }

  get updates(): Array<Record<string, string>> {
    return sessionUpdates(this.lines);
  }

  get raw(): string {
    return `--- interactive connmanctl stdout\n${this.proc.stdout}\n--- stderr\n${this.proc.stderr}`;
  }

  send(command: string): void {
    writeSync(this.#fd, `${command}\n`);
  }

  /** Waits until `check` returns a value; the error carries connmanctl's whole output. */
  async until<T>(what: string, check: () => T | undefined, timeoutMs = 10_000): Promise<T> {
    try {
      return await waitFor(what, check, { timeoutMs, intervalMs: 25 });
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${this.raw}`);
    }
  }

  /** Waits for a line matching `re` on stdout or stderr. */
  line(re: RegExp, timeoutMs?: number): Promise<string> {
    return this.until(
      `a line matching ${re}`,
      () => [...this.lines, ...plainLines(this.proc.stderr)].find((l) => re.test(l)),
      timeoutMs,
    );
  }

  /** Sends `command` and waits for the Update it causes (the n+1-th block); returns it. */
  async update(command: string): Promise<Record<string, string>> {
    const n = this.updates.length;
    this.send(command);
    return this.until(`an Update after "${command}"`, () => this.updates[n]);
  }

  /** Closes stdin (connmanctl exits on EOF) and waits for the exit. */
  async close(): Promise<void> {
    closeSync(this.#fd);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.proc.exited, new Promise((r) => (timer = setTimeout(r, 5_000)))]);
    clearTimeout(timer);
    await this.proc.kill('SIGTERM', 2_000);
  }
}

async function listSessions(): Promise<Array<{ path: string; props: Record<string, unknown> }>> {
  const [list] = await client.call('/', NETSESSION_MANAGER_INTERFACE, 'ListSessions', '', []);
  return (list as Array<[string, unknown]>).map(([path, props]) => ({
    path,
    props: unwrap(props) as Record<string, unknown>,
  }));
}

async function listedSession(path: string): Promise<Record<string, unknown> | undefined> {
  return (await listSessions()).find((s) => s.path === path)?.props;
}

async function servicesByName(): Promise<Record<string, { path: string; props: Record<string, unknown> }>> {
  return Object.fromEntries((await client.services()).map((s) => [String(s.props.Name), s]));
}

/** `connmanctl services` must list exactly what GetServices says, in its order, with its flags. */
async function expectServicesMatchBus(): Promise<Array<[string, string, string]>> {
  const r = await ctl('services');
  const services = await client.services();
  expect(r.code, r.raw).toBe(0);
  const printed = serviceLines(r.lines);
  expect(printed, r.raw).toEqual(services.map((s) => [flagsOf(s.props), s.props.Name, lastElement(s.path)]));
  return printed;
}

describe.skipIf(!supported)('connmanctl (ConnMan 1.41 client) against netsessiond', () => {
  beforeAll(async () => {
    sb = await createSandbox();
    ({ daemon } = await startTestDaemon(sb));
    client = await ConnmanClient.connect(sb.dbusAddress!);
    await waitFor(
      'all three services online',
      async () => (await client.services()).every((s) => s.props.State === 'online') || undefined,
      {
        timeoutMs: 15_000,
        intervalMs: 100,
      },
    );
  }, 120_000);

  afterAll(async () => {
    client?.disconnect();
    await sb?.destroy();
  });

  it('state prints the Manager properties', async () => {
    const r = await ctl('state');
    expect(r.code, r.raw).toBe(0);
    expect(keyValues(r.lines), r.raw).toEqual({ State: 'online', OfflineMode: 'False', SessionMode: 'False' });
    expect(await client.managerProperties()).toMatchObject({ State: 'online', OfflineMode: false, SessionMode: false });
  });

  it('services lists every uplink with its flags and id, as GetServices', async () => {
    const printed = await expectServicesMatchBus();
    expect(printed.map(([flags, name]) => [flags, name])).toEqual([
      ['*AO', 'eth-a'],
      ['*AO', 'eth-b'],
      ['*AO', 'eth-c'],
    ]);
    expect(printed[0]![2]).toMatch(/^ethernet_020000000001_cable$/);
    expect(printed[1]![2]).toMatch(/^wifi_/);
    expect(printed[2]![2]).toMatch(/^cellular_/);
  });

  it('services <id> prints the detailed properties of one service', async () => {
    const { path, props } = (await servicesByName())['eth-b']!;
    const id = lastElement(path);
    const r = await ctl('services', id);
    expect(r.code, r.raw).toBe(0);
    expect(r.lines[0], r.raw).toBe(path);
    const kv = keyValues(r.lines.slice(1));
    // Every property the daemon has is printed, nothing else.
    expect(Object.keys(kv).sort(), r.raw).toEqual(Object.keys(props).sort());
    const u = sb.uplink('eth-b');
    expect(kv, r.raw).toMatchObject({
      Type: 'wifi',
      State: 'online',
      Name: 'eth-b',
      Favorite: 'True',
      AutoConnect: 'True',
    });
    expect(kv.Ethernet, r.raw).toContain(`Interface=${u.ifname}`);
    expect(kv.IPv4, r.raw).toBe(`[ Method=manual, Address=${u.devAddr4}, Netmask=255.255.255.248, Gateway=${u.gw4} ]`);
    expect(kv.IPv6, r.raw).toContain(`PrefixLength=64`);

    const missing = await ctl('services', 'ethernet_nosuch_cable');
    expect(missing.stderr, missing.raw).toMatch(/^Error ethernet_nosuch_cable: /);
  });

  it('technologies prints Type, Powered and Connected as GetTechnologies', async () => {
    const r = await ctl('technologies');
    expect(r.code, r.raw).toBe(0);
    const blocks = new Map<string, string[]>();
    let cur: string[] | undefined;
    for (const l of r.lines) {
      if (l.startsWith('/')) blocks.set(l, (cur = []));
      else cur?.push(l);
    }
    const printed = [...blocks].map(([path, lines]) => {
      const kv = keyValues(lines);
      return [path, kv.Type, kv.Powered, kv.Connected];
    });
    expect(printed, r.raw).toEqual([
      ['/net/connman/technology/ethernet', 'ethernet', 'True', 'True'],
      ['/net/connman/technology/wifi', 'wifi', 'True', 'True'],
      ['/net/connman/technology/cellular', 'cellular', 'True', 'True'],
    ]);
    const techs = await client.technologies();
    expect(
      techs.map((t) => [
        t.path,
        t.props.Type,
        t.props.Powered ? 'True' : 'False',
        t.props.Connected ? 'True' : 'False',
      ]),
    ).toEqual(printed);
  });

  it('disable/enable <technology> sets Technology.Powered; services shows idle, ready and online', async () => {
    const cellular = '/net/connman/technology/cellular';
    const powered = async () => (await client.technologies()).find((t) => t.path === cellular)?.props;
    // Keep eth-c's online check failing so that it stays ready after the re-enable.
    await sb.setOnlineMode('down', { uplink: 'eth-c' });

    const off = await ctl('disable', 'cellular');
    expect(off.stdout, off.raw).toMatch(/^Disable cellular$/m);
    expect(await powered()).toMatchObject({ Powered: false, Connected: false });
    expect((await servicesByName())['eth-c']!.props.State).toBe('idle');
    const idle = await expectServicesMatchBus();
    expect(idle.find(([, name]) => name === 'eth-c')?.[0]).toBe('   ');

    // ConnMan's AlreadyDisabled, which connmanctl turns into its own message.
    const again = await ctl('disable', 'cellular');
    expect(again.stdout + again.stderr, again.raw).toMatch(/cellular is already disabled/);

    const on = await ctl('enable', 'cellular');
    expect(on.stdout, on.raw).toMatch(/^Enabled cellular$/m);
    expect(await powered()).toMatchObject({ Powered: true, Connected: true });
    await waitFor('eth-c ready', async () => (await servicesByName())['eth-c']!.props.State === 'ready' || undefined);
    const ready = await expectServicesMatchBus();
    expect(ready.find(([, name]) => name === 'eth-c')?.[0]).toBe('*AR');

    await sb.setOnlineMode('online', { uplink: 'eth-c' });
    await waitFor(
      'eth-c online again',
      async () => (await servicesByName())['eth-c']!.props.State === 'online' || undefined,
      { timeoutMs: 10_000 },
    );
    expect((await expectServicesMatchBus()).map(([flags]) => flags)).toEqual(['*AO', '*AO', '*AO']);
  });

  it('session on/config/disconnect/connect/off in interactive mode', async () => {
    const ctlr = InteractiveCtl.start('session');
    try {
      const first = await ctlr.update(
        'session on --bearers cellular wifi --type any --ifname eth-c --srciprule yes --ctxid ctx-1',
      );
      const created = await ctlr.line(/^Session \S+ created$/);
      const path = /^Session (\S+) created$/.exec(created)![1]!;
      expect(path).toMatch(/^\/sessions\/.+\/net\/connman\/connmanctl\d+$/);
      const c = sb.uplink('eth-c');
      expect(Object.keys(first), ctlr.raw).toEqual([
        'State',
        'Name',
        'IPv4',
        'IPv6',
        'Interface',
        'Bearer',
        'ConnectionType',
        'AllowedBearers',
        'AllowedInterface',
        'ContextIdentifier',
        'SourceIPRule',
      ]);
      expect(first, ctlr.raw).toMatchObject({
        State: 'online',
        Name: 'eth-c',
        Interface: 'eth-c',
        Bearer: 'cellular',
        ConnectionType: 'any',
        AllowedBearers: '[ cellular, wifi ]',
        AllowedInterface: 'eth-c',
        // ConnMan drops the creation value and reports "" (docs/behaviour.md S1); we keep it.
        ContextIdentifier: 'ctx-1',
        SourceIPRule: 'True',
      });
      expect(first.IPv4).toBe(`[ Method=manual, Address=${c.devAddr4}, Netmask=255.255.255.248, Gateway=${c.gw4} ]`);
      await ctlr.line(new RegExp(`^Session ${path} connected$`));

      // The daemon sees connmanctl's session with the settings it asked for. `on` does not Connect.
      expect(await listedSession(path)).toMatchObject({
        Active: false,
        Service: lastElement((await servicesByName())['eth-c']!.path),
        Settings: {
          AllowedBearers: ['cellular', 'wifi'],
          AllowedInterface: 'eth-c',
          ConnectionType: 'any',
          SourceIPRule: true,
          ContextIdentifier: 'ctx-1',
        },
      });

      // One Change each; ours sends one Update per Change (docs/behaviour.md B7).
      expect(await ctlr.update('session config --ifname eth-b')).toMatchObject({
        AllowedInterface: 'eth-b',
        Interface: 'eth-b',
        Bearer: 'wifi',
        Name: 'eth-b',
      });
      // A bare --ifname sends AllowedInterface "", which clears it (any interface): back to the first bearer.
      expect(await ctlr.update('session config --ifname')).toMatchObject({
        AllowedInterface: '*',
        Interface: 'eth-c',
        Bearer: 'cellular',
      });
      expect(await ctlr.update('session config --type internet')).toEqual({ ConnectionType: 'internet' });
      expect(await ctlr.update('session config --srciprule no')).toEqual({ SourceIPRule: 'False' });
      expect(await ctlr.update('session config --bearers wifi')).toMatchObject({
        AllowedBearers: '[ wifi ]',
        Interface: 'eth-b',
      });

      // connmanctl's --ctxid sends Change("ctxid", …); ConnMan rejects that key with
      // InvalidArguments and so do we. The error reply comes after any Update, so none came.
      const updates = ctlr.updates.length;
      ctlr.send('session config --ctxid ctx-2');
      // Unanchored: connmanctl's stderr lines do not always end in a newline.
      const err = await ctlr.line(/Error setting session ctxid: \S/);
      expect(err).toMatch(/ctxid/);
      expect(ctlr.updates).toHaveLength(updates);
      const rejected = await client
        .session(path)
        .change('ctxid', v.s('ctx-2'))
        .then(
          () => null,
          (e: unknown) => e,
        );
      expect(rejected).toBeInstanceOf(CallError);
      expect((rejected as CallError).type).toBe('net.connman.Error.InvalidArguments');
      expect(await listedSession(path)).toMatchObject({
        Settings: {
          AllowedBearers: ['wifi'],
          AllowedInterface: '*',
          ConnectionType: 'internet',
          SourceIPRule: false,
          ContextIdentifier: 'ctx-1',
        },
      });

      expect(await ctlr.update('session disconnect')).toMatchObject({
        State: 'disconnected',
        Interface: '',
        Bearer: '',
        Name: '',
      });
      await ctlr.line(new RegExp(`^Session ${path} disconnected$`));
      expect(await ctlr.update('session connect')).toMatchObject({
        State: 'online',
        Interface: 'eth-b',
        Bearer: 'wifi',
      });
      expect((await listedSession(path))?.Active).toBe(true);

      ctlr.send('agent on');
      await ctlr.line(/^Agent registered$/);

      // ConnMan's DestroySession sends a last Update (disconnected) before its reply.
      expect(await ctlr.update('session off')).toMatchObject({ State: 'disconnected' });
      await ctlr.line(new RegExp(`^Session ${path} ended$`));
      expect(await listedSession(path)).toBeUndefined();
    } finally {
      await ctlr.close();
    }
  });

  it('a non-root user: session connect lives as long as connmanctl runs; disable is denied', async () => {
    // Only root may power technologies (docs/behaviour.md D6); connmanctl shows the error.
    const denied = await ctlAs(NOBODY, 'disable', 'wifi');
    expect(denied.stderr, denied.raw).toMatch(/^Error wifi: /);
    expect((await client.technologies()).find((t) => t.path === '/net/connman/technology/wifi')?.props.Powered).toBe(
      true,
    );

    const proc = sb.spawn(
      sb.devNs,
      ['stdbuf', '-oL', '-eL', CONNMANCTL, 'session', 'connect', '--bearers', 'wifi', '--type', 'internet'],
      { user: NOBODY },
    );
    const raw = () => `--- stdout\n${proc.stdout}\n--- stderr\n${proc.stderr}`;
    try {
      const line = await proc.waitForLine(/^Session \S+ connected$/, { stream: 'stdout', timeoutMs: 10_000 });
      const path = /^Session (\S+) connected$/.exec(line)![1]!;
      expect(sessionUpdates(plainLines(proc.stdout))[0], raw()).toMatchObject({
        State: 'online',
        Interface: 'eth-b',
        ConnectionType: 'internet',
        AllowedBearers: '[ wifi ]',
      });
      expect(await listedSession(path)).toMatchObject({
        UID: NOBODY.uid,
        Active: true,
        Settings: { AllowedBearers: ['wifi'], ConnectionType: 'internet' },
      });
      // Non-interactive connmanctl keeps running for the session; ending it ends the session.
      await proc.kill('SIGTERM');
      await waitFor(
        'the session to go with its client',
        async () => (await listedSession(path)) === undefined || undefined,
      );
    } finally {
      await proc.kill('SIGKILL', 0);
    }
  });

  // Last: it stops the daemon.
  it('prints "released" when the daemon shuts down', async () => {
    const ctlr = InteractiveCtl.start('release');
    try {
      ctlr.send('session on');
      const line = await ctlr.line(/^Session \S+ connected$/);
      const path = /^Session (\S+) connected$/.exec(line)![1]!;
      await daemon.kill('SIGTERM', 5_000);
      expect(await daemon.exited).toMatchObject({ code: 0 });
      await ctlr.line(new RegExp(`^Session ${path} released$`), 5_000);
    } finally {
      await ctlr.close();
    }
  });
});
