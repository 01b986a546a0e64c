/**
 * Source rules linger in the real kernel (daemon/runtime/source-rule-linger.ts): the daemon
 * installs `from ADDR lookup T` before the first Update of a SourceIPRule session, keeps it for
 * about two seconds after the last such session on the service is gone (a session coming back
 * in that time finds it and costs no rtnetlink request), and removes it after that.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from './harness/exec.js';
import { createSandbox, requireRoot, type Sandbox, type SandboxProcess } from './harness/sandbox.js';
import { startTestDaemon } from './harness/test-daemon.js';
import { ConnmanClient, v } from './support/connman-client.js';

const supported = requireRoot();
const SETTINGS = { AllowedInterface: v.s('eth-b'), SourceIPRule: v.b(true) };

let sb: Sandbox;
let daemon: SandboxProcess;
let client: ConnmanClient;
let seq = 0;

async function hasRule(addr: string): Promise<boolean> {
  const { stdout } = await sb.run(sb.devNs, ['ip', 'rule', 'show']);
  return new RegExp(`from ${addr.replace(/\./g, '\\.')} lookup`).test(stdout);
}

async function session(): Promise<string> {
  const { path, n } = await client.createSession(SETTINGS, `/test/linger${++seq}`);
  await n.waitFor((s) => s.SourceIPRule === true && s.Interface === 'eth-b', 5000, 'source session on eth-b');
  return path;
}

const ruleAdds = (addr: string) =>
  daemon.stderr.split('\n').filter((l) => l.includes(`add rule -4`) && l.includes(`from ${addr}/32`)).length;

describe.skipIf(!supported)('source rules linger after the last SourceIPRule session', () => {
  beforeAll(async () => {
    sb = await createSandbox();
    ({ daemon } = await startTestDaemon(sb, { args: ['--debug'] }));
    client = await ConnmanClient.connect(sb.dbusAddress!);
    await waitFor(
      'eth-b online',
      async () =>
        (await client.services()).find((s) => s.props.Name === 'eth-b')?.props.State === 'online' ? true : undefined,
      { timeoutMs: 15_000 },
    );
  }, 120_000);

  afterAll(async () => {
    client?.disconnect();
    await sb?.destroy();
  });

  it('is in the kernel at the first Update, outlives the session briefly, is reused, then goes', async () => {
    const b4 = sb.uplink('eth-b').devAddr4;
    expect(await hasRule(b4)).toBe(false);
    const first = await session();
    // The Update went out once the rule was in.
    expect(await hasRule(b4)).toBe(true);
    expect(ruleAdds(b4)).toBe(1);
    await client.session(first).destroy();
    await new Promise((r) => setTimeout(r, 300));
    expect(await hasRule(b4)).toBe(true);

    // A session within the linger finds the rule: no second add.
    const second = await session();
    expect(ruleAdds(b4)).toBe(1);
    const gone = Date.now();
    await client.session(second).destroy();
    await waitFor('source rule removed after the linger', async () => ((await hasRule(b4)) ? undefined : true), {
      timeoutMs: 6000,
    });
    const after = Date.now() - gone;
    expect(after).toBeGreaterThanOrEqual(1500);
    expect(daemon.stderr).toMatch(new RegExp(`del rule -4 pref \\d+ from ${b4.replace(/\./g, '\\.')}/32`));
  });
});
