/**
 * Broken state never keeps the network down (a namespace sandbox, a real dbus-daemon):
 *
 * | state                                   | expected                                                        |
 * |-----------------------------------------|-----------------------------------------------------------------|
 * | settings is a directory                 | starts, one warning with path and fix, sessions work, dir kept  |
 * | settings is a FIFO                      | same (refused at once, no writer needed), FIFO kept             |
 * | settings is corrupt JSON                | same, and a later OfflineMode change does not overwrite it      |
 * | the state dir is a file                 | starts, one warning, sessions work, the file kept               |
 * | the state dir is read-only (ro mount)   | starts, reads its settings, one warning, changes not saved      |
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSandbox, requireRoot, type Sandbox } from './harness/sandbox.js';
import { startTestDaemon, type TestDaemon } from './harness/test-daemon.js';
import { ConnmanClient, v } from './support/connman-client.js';

const supported = requireRoot();
let sb: Sandbox;
let td: TestDaemon | null = null;
let seq = 0;

/** Starts the daemon on `stateDir`, checks a session connects, toggles OfflineMode (a save attempt), stops it. */
async function runOnce(stateDir: string, wrap: string[] = []): Promise<string> {
  td = await startTestDaemon(sb, { args: ['--firewall', 'none', '--state-dir', stateDir], wrap });
  const client = await ConnmanClient.connect(sb.dbusAddress!);
  try {
    const s = await client.createSession({}, `/test/s${++seq}`);
    await s.n.waitFor((x) => x.State === 'online' || x.State === 'connected', 15_000, 'a session connects');
    await client.setManagerProperty('OfflineMode', v.b(true));
    await s.n.waitFor((x) => x.State === 'disconnected', 10_000, 'offline');
    await client.setManagerProperty('OfflineMode', v.b(false));
  } finally {
    client.disconnect();
  }
  await td.daemon.kill('SIGTERM');
  const err = td.daemon.stderr;
  td = null;
  expect(err).not.toMatch(/settings not saved/);
  return err;
}

describe.skipIf(!supported)('broken state', () => {
  beforeAll(async () => {
    sb = await createSandbox();
  }, 120_000);

  afterAll(async () => {
    await td?.daemon.kill('SIGKILL', 0);
    await sb?.destroy();
  });

  const fresh = (name: string) => {
    const dir = join(sb.tmpDir, name);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir);
    return dir;
  };

  it('settings that is a directory, a FIFO, or corrupt: starts with defaults, warns once, never writes over it', async () => {
    const a = fresh('state-dir-settings');
    mkdirSync(join(a, 'settings'));
    writeFileSync(join(a, 'settings', 'keep'), 'x');
    let err = await runOnce(a);
    expect(
      err.match(
        /settings: .*\/settings cannot be read \(a directory, not a regular file\): running with default settings and without saving them; fix: repair or remove .*, then restart the daemon/g,
      ),
    ).toHaveLength(1);
    expect(statSync(join(a, 'settings')).isDirectory()).toBe(true);
    expect(readFileSync(join(a, 'settings', 'keep'), 'utf8')).toBe('x');

    const b = fresh('state-fifo-settings');
    execFileSync('mkfifo', [join(b, 'settings')]);
    err = await runOnce(b);
    expect(err).toMatch(/settings: .*\/settings cannot be read \(a FIFO, not a regular file\)/);
    expect(statSync(join(b, 'settings')).isFIFO()).toBe(true);

    const c = fresh('state-corrupt-settings');
    writeFileSync(join(c, 'settings'), '{"version": 1, "offlineMode": tru');
    err = await runOnce(c);
    expect(
      err.match(
        /settings: .*\/settings is corrupt \(settings file is not valid JSON .*\): running with default settings and without saving them/g,
      ),
    ).toHaveLength(1);
    expect(readFileSync(join(c, 'settings'), 'utf8')).toBe('{"version": 1, "offlineMode": tru');
  }, 180_000);

  it('a state dir that is a file: starts, warns once with the fix, the file stays', async () => {
    const file = join(sb.tmpDir, 'state-is-a-file');
    writeFileSync(file, 'mine\n');
    const err = await runOnce(file);
    expect(
      err.match(
        /state directory .*state-is-a-file is unusable \(\w+\): running with default settings and without saving them; fix: make .* a directory writable by the daemon, then restart it/g,
      ),
    ).toHaveLength(1);
    expect(readFileSync(file, 'utf8')).toBe('mine\n');
  }, 120_000);

  it('a read-only state dir: starts with the settings it holds, warns once, saves nothing', async () => {
    const d = fresh('state-ro');
    const saved = JSON.stringify({
      version: 1,
      offlineMode: false,
      technologies: { cellular: { powered: false } },
      services: {},
    });
    writeFileSync(join(d, 'settings'), saved);
    // A read-only bind mount in the daemon's own mount namespace (root ignores mode bits).
    const wrap = [
      'unshare',
      '--mount',
      '--propagation',
      'private',
      'sh',
      '-c',
      'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec "$@"',
      d,
    ];
    const err = await runOnce(d, wrap);
    expect(
      err.match(
        /settings: the state directory of .*state-ro\/settings is not writable: settings changes will not be saved/g,
      ),
    ).toHaveLength(1);
    expect(err).toMatch(/settings restored: OfflineMode false/);
    expect(readFileSync(join(d, 'settings'), 'utf8')).toBe(saved);
  }, 120_000);
});
