/**
 * netsessionctl for scripts and shells, against a real netsessiond in a sandbox (eth-a ethernet,
 * eth-b wifi, eth-c cellular), each command a child process in the device namespace as a person
 * or a script would run it.
 *
 * | what                                  | proven                                                                  |
 * |---------------------------------------|-------------------------------------------------------------------------|
 * | `monitor` without a terminal          | one text line per event; a carrier loss is one more `services` line       |
 * | `monitor \| head -1` (EPIPE)          | netsessionctl exits 0 with nothing on stderr once head has gone           |
 * | `services SERVICE`                    | the sandbox's addresses, gateways and online state                        |
 * | `-o`, `--no-headers`                  | the fields asked for, in that order, with the kernel's values; bad field: exit 2 |
 * | `session create --wait=SECONDS`       | piped: no progress line; no uplink in time: exit 1, one line, session gone |
 * | bash completion                       | service names and ids come from the running daemon                        |
 * | `--version`                           | package.json's version                                                    |
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from './harness/daemon.js';
import { waitFor } from './harness/exec.js';
import { createSandbox, requireRoot, type Sandbox } from './harness/sandbox.js';
import { startTestDaemon } from './harness/test-daemon.js';
import { CLI, jsonIn, NODE, runCtl, spawnCtlIn } from './support/cli-driver.js';

const supported = requireRoot();

let sb: Sandbox;

interface Service {
  path: string;
  interface: string | null;
  state: string;
}

async function allOnline(): Promise<void> {
  await waitFor(
    'all three services online',
    async () => {
      const r = await runCtl(sb, ['--json', 'services']);
      if (r.code !== 0) return undefined;
      const list = JSON.parse(r.stdout) as Service[];
      return list.length === 3 && list.every((s) => s.state === 'online') ? true : undefined;
    },
    { timeoutMs: 30_000, intervalMs: 200 },
  );
}

/** A shell line run in the device namespace, with `netsessionctl` on PATH as a small wrapper. */
function shell(script: string, timeoutMs = 60_000) {
  return sb.run(sb.devNs, ['bash', '-c', `PATH=${sb.tmpDir}/bin:$PATH; ${script}`], {
    allowFail: true,
    cwd: REPO_ROOT,
    timeoutMs,
  });
}

describe.skipIf(!supported)('netsessionctl for scripts and shells', () => {
  beforeAll(async () => {
    sb = await createSandbox();
    await startTestDaemon(sb, { args: ['--debug'] });
    const bin = join(sb.tmpDir, 'bin');
    mkdirSync(bin, { recursive: true });
    writeFileSync(join(bin, 'netsessionctl'), `#!/bin/sh\nexec ${NODE} --import tsx ${CLI} "$@"\n`, { mode: 0o755 });
    await allOnline();
  }, 120_000);

  afterAll(async () => {
    await sb?.destroy();
  });

  it("--version is the package's", async () => {
    const { version } = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
    const r = await runCtl(sb, ['--version']);
    expect({ code: r.code, stdout: r.stdout, stderr: r.stderr }).toEqual({
      code: 0,
      stdout: `netsessionctl ${version}\n`,
      stderr: '',
    });
  });

  it("services SERVICE shows the uplink's addresses, gateways and online state", async () => {
    const c = sb.uplink('eth-c');
    const r = await runCtl(sb, ['services', 'eth-c']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Interface: +eth-c$/m);
    expect(r.stdout).toMatch(/^Bearer: +cellular$/m);
    expect(r.stdout).toMatch(/^State: +online$/m);
    expect(r.stdout).toMatch(/^Online: +yes$/m);
    expect(r.stdout).toMatch(new RegExp(`^IPv4: +${c.devAddr4}/${c.prefix4} via ${c.gw4} \\(\\w+\\)$`, 'm'));
    expect(r.stdout).toMatch(new RegExp(`^IPv6: +${c.devAddr6}/${c.prefix6}( via \\S+)? \\(\\w+\\)$`, 'm'));
    const json = await jsonIn<{ ipv4: { address: string; gateway: string } }>(sb, 'services', 'eth-c');
    expect(json.ipv4).toMatchObject({ address: c.devAddr4, gateway: c.gw4 });
    expect((await runCtl(sb, ['services', 'eth-x'])).code).toBe(1);
  });

  it("-o picks fields in order with the kernel's values; --no-headers leaves rows only; an unknown field is exit 2", async () => {
    const r = await runCtl(sb, ['services', '-o', 'interface,ipv4,gateway,online', '--no-headers']);
    expect(r.stderr).toBe('');
    const rows = r.stdout
      .trim()
      .split('\n')
      .map((l) => l.split(/ +/));
    expect(rows).toEqual(
      ['eth-a', 'eth-b', 'eth-c'].map((n) => [n, `${sb.uplink(n).devAddr4}/29`, sb.uplink(n).gw4, 'yes']),
    );
    expect(await jsonIn(sb, 'technologies', '-o', 'type,powered')).toEqual([
      { type: 'ethernet', powered: true },
      { type: 'wifi', powered: true },
      { type: 'cellular', powered: true },
    ]);
    const bad = await runCtl(sb, ['services', '-o', 'interface,speed']);
    expect({ code: bad.code, stdout: bad.stdout }).toEqual({ code: 2, stdout: '' });
    expect(bad.stderr).toMatch(/^netsessionctl: services: unknown field 'speed' \(fields: interface, /);
  });

  it('monitor without a terminal prints one text line per event', async () => {
    const proc = spawnCtlIn(sb, ['monitor', '--interval', '200']);
    await proc.waitForLine(/^services eth-a=online eth-b=online eth-c=online$/, { timeoutMs: 20_000 });
    await proc.waitForLine(/^sessions /, { timeoutMs: 20_000 });
    await sb.setCarrier('eth-c', false);
    await proc.waitForLine(/^services eth-a=online eth-b=online eth-c=(?!online)\w+$/, { timeoutMs: 20_000 });
    await sb.setCarrier('eth-c', true);
    await proc.waitForLine(/^services eth-a=online eth-b=online eth-c=online$/, { timeoutMs: 30_000 });
    expect(await proc.kill('SIGINT')).toEqual({ code: 0, signal: null });
    for (const line of proc.stdout.trim().split('\n')) expect(line).toMatch(/^(services|sessions|error) /);
    await allOnline();
  });

  it('monitor | head -1: netsessionctl exits 0 quietly once head has gone', async () => {
    // head takes the first line and leaves; the next line monitor writes meets a closed pipe (a
    // carrier change makes sure there is one).
    const status = join(sb.tmpDir, 'pipe-status');
    const pipeline = sb.spawn(
      sb.devNs,
      [
        'bash',
        '-c',
        `PATH=${sb.tmpDir}/bin:$PATH; netsessionctl monitor 2>${status}.err | head -1; echo "\${PIPESTATUS[0]}" > ${status}`,
      ],
      { cwd: REPO_ROOT },
    );
    // Either list may come first: the services and the sessions are read concurrently.
    await pipeline.waitForLine(/^(services|sessions) /, { timeoutMs: 20_000 });
    await sb.setCarrier('eth-b', false);
    await sb.setCarrier('eth-b', true);
    expect(await pipeline.exited).toEqual({ code: 0, signal: null });
    expect(readFileSync(status, 'utf8').trim()).toBe('0');
    expect(readFileSync(`${status}.err`, 'utf8')).toBe('');
    await allOnline();
  });

  it('session create --wait=SECONDS: piped, no progress line; no uplink in time is exit 1 and one line', async () => {
    const none = await runCtl(sb, ['session', 'create', '--interface', 'eth-x', '--wait=1.5']);
    expect({ code: none.code, stdout: none.stdout, stderr: none.stderr }).toEqual({
      code: 1,
      stdout: '',
      stderr: 'netsessionctl: the session got no uplink within 1.5 s (its state: disconnected)\n',
    });
    expect(await jsonIn(sb, 'sessions')).toEqual([]);
    const proc = spawnCtlIn(sb, ['session', 'create', '--bearers', 'cellular', '--wait=10']);
    await proc.waitForLine(/^online eth-c cellular /, { timeoutMs: 20_000 });
    expect(await proc.kill('SIGINT')).toEqual({ code: 0, signal: null });
    expect(proc.stderr).toBe('');
  });

  it("bash completion offers the running daemon's services", async () => {
    const script = join(REPO_ROOT, 'bin/completions/netsessionctl.bash');
    const r = await shell(
      [
        `source ${script}`,
        'COMP_LINE="netsessionctl connect e"; COMP_POINT=${#COMP_LINE}',
        'COMP_WORDS=(netsessionctl connect e); COMP_CWORD=2',
        'NETSESSIONCTL_COMPLETION_TIMEOUT=30 _netsessionctl',
        'printf "%s\\n" "${COMPREPLY[@]}"',
      ].join('\n'),
    );
    expect(r.stderr).toBe('');
    const ids = (await jsonIn<Service[]>(sb, 'services')).map((s) => s.path.slice(s.path.lastIndexOf('/') + 1));
    expect(r.stdout.trim().split('\n').sort()).toEqual(
      ['eth-a', 'eth-b', 'eth-c', ...ids.filter((id) => id.startsWith('e'))].sort(),
    );
  });
});
