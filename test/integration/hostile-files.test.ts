/**
 * Files the daemon reads, made hostile (policy dir in a namespace sandbox, a real dbus-daemon):
 *
 * | fault in the policy dir                           | expected                                        |
 * |---------------------------------------------------|-------------------------------------------------|
 * | 200,000 valid groups (5 MB)                       | rejected: over MaxFileSize, never parsed        |
 * | 1,001 groups (under the size cap)                 | rejected: over MaxPolicyGroups, with its line   |
 * | a FIFO named x.policy                             | rejected at once (no writer needed)             |
 * | z.policy -> /dev/zero                             | rejected: a character device                    |
 * | a 64 MB one-line file                             | rejected: over MaxFileSize                      |
 * | a symlink loop                                    | rejected: ELOOP                                 |
 * | a file replaced 200 times while being read        | the last version is in force                    |
 * | 10,000 policy files                               | 1,000 held (MaxDirFiles), the rest rejected     |
 *
 * Throughout: the daemon never exits, answers GetProperties within 100 ms, the good policy stays
 * in force (a root session keeps being restricted to cellular), and its RSS ends within 10 MB of
 * where it started. A policy dir that is a file and a provisioning dir full of garbage: the
 * daemon starts, says so, and sessions work.
 */

import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSandbox, requireRoot, type Sandbox } from './harness/sandbox.js';
import { startTestDaemon, type TestDaemon } from './harness/test-daemon.js';
import { ConnmanClient } from './support/connman-client.js';

const supported = requireRoot();
let sb: Sandbox;
let td: TestDaemon;
let client: ConnmanClient;
let seq = 0;

/**
 * Runs `code` in a child node: writing 64 MB or 10,000 files here would block this process's
 * event loop and show up as slow GetProperties answers that the daemon never gave.
 */
async function inChild(code: string, ...args: string[]): Promise<void> {
  await promisify(execFile)(process.execPath, ['-e', code, ...args], { maxBuffer: 1 << 20 });
}

const PUT = `const fs = require('fs'); const [, dir, name, what, n] = process.argv;
const data = what === 'groups' ? Array.from({ length: +n }, (_, i) => '[g' + i + ']\\nuid=' + (i + 5000) + '\\n').join('') : 'a'.repeat(+n);
fs.writeFileSync(dir + '/.' + name + '.tmp', data); fs.renameSync(dir + '/.' + name + '.tmp', dir + '/' + name);`;

function rssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]);
}

/** Calls GetProperties every 50 ms until stopped; records the slowest answer and any failure. */
function pinger(c: ConnmanClient) {
  let worst = 0;
  let failures = 0;
  let stop = false;
  const done = (async () => {
    while (!stop) {
      const t = performance.now();
      await c.managerProperties().catch(() => failures++);
      worst = Math.max(worst, performance.now() - t);
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  return {
    get worst() {
      return worst;
    },
    get failures() {
      return failures;
    },
    async stop() {
      stop = true;
      await done;
    },
  };
}

describe.skipIf(!supported)('hostile files', () => {
  beforeAll(async () => {
    sb = await createSandbox();
    const policyDir = join(sb.tmpDir, 'policy');
    mkdirSync(policyDir, { recursive: true });
    writeFileSync(join(policyDir, 'root.policy'), '[policy_root]\nuid = root\nAllowedBearers = cellular\n');
    td = await startTestDaemon(sb, { args: ['--firewall', 'none'] });
    client = await ConnmanClient.connect(sb.dbusAddress!);
  }, 120_000);

  afterAll(async () => {
    client?.disconnect();
    await sb?.destroy();
  });

  it('each policy-dir fault is rejected in one line; the daemon stays up, responsive, small, and keeps the good policy', async () => {
    const { daemon, policyDir } = td;
    const s1 = await client.createSession({}, `/test/n${++seq}`);
    await s1.n.waitFor((s) => s.Interface === 'eth-c', 10_000, 'policy restricts root to cellular');
    for (let i = 0; i < 20; i++) await client.managerProperties();
    const rss0 = rssKb(daemon.pid);
    const ping = pinger(client);
    const lines = () => daemon.stderr.split('\n');
    const rejectedLine = async (file: string, re: RegExp) => {
      const line = await daemon.waitForLine(
        new RegExp(`policy rejected, previous version kept: .*${file.replace('.', '\\.')}`),
        { timeoutMs: 10_000 },
      );
      expect(line).toMatch(re);
      expect(lines().filter((l) => l.includes(file) && l.includes('rejected')).length).toBe(1);
      return line;
    };
    // Written aside and renamed in: one event, one complete file (in-place writes are the replace test's).
    const put = (name: string, what: 'groups' | 'bytes', n: number) => inChild(PUT, policyDir, name, what, String(n));
    let peak = rss0;
    const phases: string[] = [];
    const sample = (phase = '') => {
      const kb = rssKb(daemon.pid);
      peak = Math.max(peak, kb);
      if (phase) phases.push(`${phase} ${((kb - rss0) / 1024).toFixed(1)} MB`);
    };

    await put('huge.policy', 'groups', 200_000);
    await rejectedLine('huge.policy', /: \d+ bytes is over MaxFileSize 262144 \(--max-file-size\)/);
    sample('huge');
    await put('groups.policy', 'groups', 1001);
    // The cap counts the root.policy group too, so the 1,000th group of this file is the one over.
    await rejectedLine(
      'groups.policy',
      /groups\.policy:1999: group 1000 of this file is over MaxPolicyGroups 1000 \(--max-policy-groups; 1 in force in other files\)/,
    );
    sample('groups');
    execFileSync('mkfifo', [join(policyDir, 'x.policy')]);
    await rejectedLine('x.policy', /: a FIFO, not a regular file/);
    symlinkSync('/dev/zero', join(policyDir, 'z.policy'));
    await rejectedLine('z.policy', /: a character device, not a regular file/);
    sample('fifo+zero');
    await put('line.policy', 'bytes', 64 << 20);
    await rejectedLine('line.policy', /: 67108864 bytes is over MaxFileSize/);
    sample('64MB');
    symlinkSync(join(policyDir, 'loop2.policy'), join(policyDir, 'loop1.policy'));
    symlinkSync(join(policyDir, 'loop1.policy'), join(policyDir, 'loop2.policy'));
    await rejectedLine('loop1.policy', /: ELOOP: cannot read it/);

    // Replaced while being read: rename over the name, as editors do, as fast as we can.
    for (let i = 0; i < 200; i++) {
      const tmp = join(policyDir, `.r${i}.tmp`);
      writeFileSync(tmp, `[policy_r]\nuid = ${20000 + i}\n`);
      renameSync(tmp, join(policyDir, 'r.policy'));
    }
    await daemon.waitForLine(/policy r\.policy loaded/, { timeoutMs: 10_000 });
    sample('replace');

    // 10,000 files: the first 1,000 are held (one group each, 998 more fit under MaxPolicyGroups
    // with root.policy and r.policy), every other one is refused in one line.
    await inChild(
      `for (let i = 0; i < 10000; i++) require('fs').writeFileSync(process.argv[1] + '/m' + String(i).padStart(5, '0') + '.policy', '[m' + i + ']\\nuid = ' + (100000 + i) + '\\n');`,
      policyDir,
    );
    const until = Date.now() + 60_000;
    // Distinct names: a file written in two steps may be refused once per version it had.
    const count = (re: RegExp) => new Set(lines().flatMap((l) => re.exec(l)?.[1] ?? [])).size;
    const loadedRe = /policy (m\d+)\.policy loaded/;
    const refusedRe = /policy rejected, previous version kept: .*\/(m\d+)\.policy/;
    while (count(loadedRe) + count(refusedRe) < 10_000 && Date.now() < until) {
      sample();
      await new Promise((r) => setTimeout(r, 250));
    }
    const loaded = count(loadedRe);
    const refused = count(refusedRe);
    console.log(`10,000 policy files: ${loaded} loaded, ${refused} rejected`);
    expect(loaded + refused).toBe(10_000);
    expect(loaded).toBeLessThanOrEqual(998);
    sample('10k files');

    await ping.stop();
    // V8 gives memory back some seconds after a burst (its memory reducer): sample until then.
    const settle: number[] = [];
    for (let i = 0; i < 8; i++) {
      await new Promise((r) => setTimeout(r, 2000));
      settle.push(rssKb(daemon.pid));
    }
    console.log(`RSS every 2 s after the faults (kB): ${settle.join(' ')}`);
    const rss1 = Math.min(...settle);
    console.log(`RSS after each fault: ${phases.join(', ')}`);
    console.log(
      `GetProperties: slowest ${ping.worst.toFixed(1)} ms, ${ping.failures} failed; RSS ${rss0} kB at start, peak ${peak} kB, ${rss1} kB at the end (${((rss1 - rss0) / 1024).toFixed(1)} MB more)`,
    );
    expect(daemon.exitStatus).toBeNull();
    expect(ping.failures).toBe(0);
    expect(ping.worst).toBeLessThan(100);
    expect(rss1 - rss0).toBeLessThan(10 * 1024);
    expect(peak - rss0).toBeLessThan(10 * 1024);

    // The good policy is still in force, for the old session and for a new one.
    expect(s1.n.settings.Interface).toBe('eth-c');
    const s2 = await client.createSession({}, `/test/n${++seq}`);
    await s2.n.waitFor((s) => s.Interface === 'eth-c', 10_000, 'a new session gets the good policy');
  }, 240_000);

  it('a policy dir that is a file, and a provisioning dir of garbage: the daemon starts, says so, and sessions work', async () => {
    await td.daemon.kill('SIGTERM');
    const policyFile = join(sb.tmpDir, 'policy-is-a-file');
    writeFileSync(policyFile, 'not a directory\n');
    const prov = join(sb.tmpDir, 'prov');
    rmSync(prov, { recursive: true, force: true });
    mkdirSync(prov);
    writeFileSync(join(prov, 'junk.bin'), Buffer.from([0, 1, 2, 255]));
    writeFileSync(join(prov, 'garbage'), 'garbage\n');
    writeFileSync(join(prov, 'g.config'), Buffer.from([0xff, 0xfe, 0xfd]));
    writeFileSync(join(prov, 'h.config'), 'this is not a key file\n');
    // A manage glob no link matches: provisioning is read, no link is touched.
    td = await startTestDaemon(sb, {
      args: ['--firewall', 'none', '--policy-dir', policyFile, '--provisioning-dir', prov],
      general: ['ManageInterfaces = nomatch*'],
    });
    const err = td.daemon.stderr;
    expect(err).toMatch(
      new RegExp(`policy directory ${policyFile} is unusable \\(\\w+\\); no policy files are loaded; fix: `),
    );
    expect(err).toMatch(/provisioning: ignoring 2 file\(s\) in .* not named <letters and digits>\.config: /);
    expect(err).toMatch(/provisioning rejected, previous version kept: .*g\.config: not UTF-8 text/);
    expect(err).toMatch(/provisioning rejected, previous version kept: h\.config:1: malformed line/);
    client.disconnect();
    client = await ConnmanClient.connect(sb.dbusAddress!);
    const s = await client.createSession({}, `/test/n${++seq}`);
    await s.n.waitFor((x) => x.State === 'online' || x.State === 'connected', 10_000, 'a session connects');
    expect(readFileSync(policyFile, 'utf8')).toBe('not a directory\n');
  }, 120_000);
});
