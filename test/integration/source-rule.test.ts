/**
 * Source rules in the real kernel follow the sessions exactly: the daemon installs
 * `from ADDR lookup T` before the first Update of a SourceIPRule session and removes it as soon as
 * the last such session on the service is gone. Keeping it a while longer would save sequential
 * sessions a rule add each, but for that while it would also pull traffic that the classifier
 * marked for another uplink, and whose source the kernel picked from this one, onto this uplink.
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
  const { path, n } = await client.createSession(SETTINGS, `/test/srcrule${++seq}`);
  await n.waitFor((s) => s.SourceIPRule === true && s.Interface === 'eth-b', 5000, 'source session on eth-b');
  return path;
}

const ruleAdds = (addr: string) =>
  daemon.stderr.split('\n').filter((l) => l.includes(`add rule -4`) && l.includes(`from ${addr}/32`)).length;

describe.skipIf(!supported)('source rules of SourceIPRule sessions', () => {
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

  it('is in the kernel at the first Update and goes with the last session that wanted it', async () => {
    const b4 = sb.uplink('eth-b').devAddr4;
    expect(await hasRule(b4)).toBe(false);
    const first = await session();
    // The Update went out once the rule was in.
    expect(await hasRule(b4)).toBe(true);
    expect(ruleAdds(b4)).toBe(1);
    // A second session on the same service shares the rule: no second add.
    const second = await session();
    expect(ruleAdds(b4)).toBe(1);
    await client.session(first).destroy();
    await new Promise((r) => setTimeout(r, 300));
    expect(await hasRule(b4)).toBe(true);
    const gone = Date.now();
    await client.session(second).destroy();
    await waitFor('source rule removed', async () => ((await hasRule(b4)) ? undefined : true), { timeoutMs: 3000 });
    expect(Date.now() - gone).toBeLessThan(1000);
    expect(daemon.stderr).toMatch(new RegExp(`del rule -4 pref \\d+ from ${b4.replace(/\./g, '\\.')}/32`));
    // The next session adds it again.
    const third = await session();
    expect(await hasRule(b4)).toBe(true);
    expect(ruleAdds(b4)).toBe(2);
    await client.session(third).destroy();
  });
});
