/**
 * OfflineMode and Technology.Powered survive a crash: once SetProperty has replied, the setting
 * is on disk (atomic write in the state dir), and a daemon killed with SIGKILL and started
 * again comes back with it.
 */
import { readFileSync, statSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INTERFACES } from '../../lib/protocol.js';
import { createSandbox, requireRoot, type Sandbox } from './harness/sandbox.js';
import { startTestDaemon, type TestDaemon } from './harness/test-daemon.js';
import { ConnmanClient, v } from './support/connman-client.js';

const supported = requireRoot();
let sb: Sandbox;
let td: TestDaemon;

async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const got = await probe().catch(() => undefined);
    if (got !== undefined) return got;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe.skipIf(!supported)('persisted settings', () => {
  beforeAll(async () => {
    sb = await createSandbox();
    td = await startTestDaemon(sb);
  }, 120_000);

  afterAll(async () => {
    await sb?.destroy();
  });

  it('OfflineMode and Powered acknowledged before a SIGKILL are there after a restart', async () => {
    let client = await ConnmanClient.connect(sb.dbusAddress!);
    await until('three services online', async () =>
      (await client.services()).filter((s) => s.props.State === 'online').length === 3 ? true : undefined,
    );
    await client.call('/net/connman/technology/cellular', INTERFACES.technology, 'SetProperty', 'sv', [
      'Powered',
      v.b(false),
    ]);
    await client.setManagerProperty('OfflineMode', v.b(true));
    // Killed right after the reply: no chance to flush anything later.
    await td.daemon.kill('SIGKILL', 0);
    client.disconnect();

    const file = `${td.stateDir}/settings`;
    const saved = JSON.parse(readFileSync(file, 'utf8'));
    expect(saved).toMatchObject({
      version: 1,
      offlineMode: true,
      technologies: { cellular: { powered: false }, ethernet: { powered: true } },
    });
    expect(statSync(file).mode & 0o777).toBe(0o600);

    td = await startTestDaemon(sb);
    client = await ConnmanClient.connect(sb.dbusAddress!);
    expect(await client.managerProperties()).toMatchObject({ State: 'offline', OfflineMode: true });
    expect((await client.services()).map((s) => s.props.State)).toEqual(['idle', 'idle', 'idle']);

    await client.setManagerProperty('OfflineMode', v.b(false));
    const states = await until('eth-a and eth-b online, cellular still off', async () => {
      const by = Object.fromEntries((await client.services()).map((s) => [s.props.Name, s.props.State]));
      return by['eth-a'] === 'online' && by['eth-b'] === 'online' ? by : undefined;
    });
    expect(states['eth-c']).toBe('idle');
    const cellular = (await client.technologies()).find((t) => t.props.Type === 'cellular')!;
    expect(cellular.props).toMatchObject({ Powered: false, Connected: false });
    expect(JSON.parse(readFileSync(file, 'utf8'))).toMatchObject({
      offlineMode: false,
      technologies: { cellular: { powered: false } },
    });
    client.disconnect();
  });
});
