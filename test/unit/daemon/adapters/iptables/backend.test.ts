import { describe, expect, it } from 'vitest';
import { createIptablesBackend } from '../../../../../daemon/adapters/iptables/backend.js';
import type { NfacctClient, NfacctFailure, NfacctValue } from '../../../../../daemon/adapters/iptables/nfacct.js';
import { NfacctError } from '../../../../../daemon/adapters/iptables/nfacct.js';
import type { IptablesRunner } from '../../../../../daemon/adapters/iptables/tools.js';
import { IptablesError } from '../../../../../daemon/adapters/iptables/tools.js';
import type { FirewallState } from '../../../../../daemon/core/kernel-state-types.js';
import type { Family } from '../../../../../daemon/core/services.js';

const EMPTY_SAVE = '*mangle\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n';

/** Records every call; the kernel is what `saves` and `objects` say; failures are injected. */
class FakeKernel implements IptablesRunner, NfacctClient {
  readonly description = 'fake';
  saves: Record<Family, string> = { 4: EMPTY_SAVE, 6: EMPTY_SAVE };
  objects = new Map<string, NfacctValue>([['foreign', { pkts: 5n, bytes: 500n }]]);
  restoreFailures = 0;
  createFails = false;
  busyOnDelete = new Set<string>();
  calls: string[] = [];
  inFlight = 0;
  maxInFlight = 0;

  async save(family: Family): Promise<string> {
    this.calls.push(`save ${family}`);
    return this.saves[family];
  }

  async restore(family: Family, script: string): Promise<void> {
    this.calls.push(`restore ${family}\n${script}`);
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    await new Promise((r) => setTimeout(r, 2));
    this.inFlight--;
    if (this.restoreFailures > 0) {
      this.restoreFailures--;
      throw new IptablesError(
        'iptables-restore failed (exit 1): iptables-restore: line 2 failed',
        'iptables-restore: line 2 failed',
        1,
      );
    }
  }

  async list(): Promise<Map<string, NfacctValue>> {
    this.calls.push('nfacct list');
    return new Map(this.objects);
  }

  async create(names: readonly string[]): Promise<void> {
    if (!names.length) return;
    this.calls.push(`nfacct create ${names.join(' ')}`);
    if (this.createFails) throw new NfacctError([{ name: names[0] as string, code: 'ENOMEM' }]);
    for (const n of names) if (!this.objects.has(n)) this.objects.set(n, { pkts: 0n, bytes: 0n });
  }

  async delete(names: readonly string[]): Promise<NfacctFailure[]> {
    if (!names.length) return [];
    this.calls.push(`nfacct delete ${names.join(' ')}`);
    const failures: NfacctFailure[] = [];
    for (const n of names) {
      if (this.busyOnDelete.has(n)) failures.push({ name: n, code: 'EBUSY' });
      else this.objects.delete(n);
    }
    return failures;
  }

  async reset(names: readonly string[]): Promise<void> {
    this.calls.push(`nfacct reset ${names.join(' ')}`);
    for (const n of names) if (this.objects.has(n)) this.objects.set(n, { pkts: 0n, bytes: 0n });
  }
}

function state(
  sessions: Array<{ key: string; mark: number; tag: number }> = [{ key: 's1', mark: 0x20000, tag: 1 }],
): FirewallState {
  return {
    mask: 0x0fff0000,
    tagMask: 0xffff,
    sessions: sessions.map((s) => ({
      sessionKey: s.key,
      mark: s.mark,
      tag: s.tag,
      ifname: 'eth-b',
      snat: [{ family: 4, address: '198.51.100.18' }],
    })),
    classifiers: sessions.map((s, i) => ({ kind: 'uid', key: String(1001 + i), sessionKey: s.key })),
  };
}

function setup(families: Family[] = [4, 6]) {
  const tools = new FakeKernel();
  const logs: string[] = [];
  const fw = createIptablesBackend({
    runner: tools,
    nfacct: tools,
    families,
    cgroupResolver: () => () => null,
    log: (l, m) => logs.push(`${l} ${m}`),
  });
  return { tools, fw, logs };
}

const kinds = (calls: string[]) => calls.map((c) => c.split('\n')[0]);

describe('iptables backend (cache, verify, retries, NFACCT)', () => {
  it('logs the tools it uses', () => {
    expect(setup().logs).toEqual(['info iptables: using fake, NFACCT over netlink']);
  });

  it('first apply: reads back, creates the NFACCT objects first, then one restore per family; the same state again runs nothing', async () => {
    const { tools, fw } = setup();
    await fw.apply(state());
    expect(kinds(tools.calls)).toEqual([
      'save 4',
      'save 6',
      'nfacct list',
      'nfacct create ns-rx-s1 ns-tx-s1',
      'restore 4',
      'restore 6',
    ]);
    expect(tools.objects.has('ns-tx-s1') && tools.objects.has('ns-rx-s1')).toBe(true);
    expect(tools.calls[4]).toMatch(/^restore 4\n\*mangle\n-N NS-PREROUTING\n/);
    expect(tools.calls[4]).toMatch(/\n\*nat\n-N NS-POSTROUTING\n/);
    expect(fw.lastApply).toMatchObject({ readBack: true, attempts: 1, rebuilt: false, commands: 3 });
    expect(fw.lastOps).toBeGreaterThan(40);
    tools.calls = [];
    await fw.apply(state());
    expect(tools.calls).toEqual([]);
    expect(fw.lastOps).toBe(0);
    expect(fw.lastBatchSize).toBe(0);
  });

  it('a moved session is diffed against the cache: one small restore per family, no NFACCT call', async () => {
    const { tools, fw } = setup();
    await fw.apply(state());
    tools.calls = [];
    await fw.apply(state([{ key: 's1', mark: 0x30000, tag: 1 }]));
    expect(kinds(tools.calls)).toEqual(['restore 4', 'restore 6']);
    expect(tools.calls[0]).toMatch(
      /^restore 4\n\*mangle\n-D NS-S-s1 .*0x20001\/0xfffffff\n-I NS-S-s1 1 .*0x30001\/0xfffffff\nCOMMIT\n\*nat\n-F NS-POSTROUTING\n-A NS-POSTROUTING .*\nCOMMIT\n$/,
    );
    expect(fw.lastApply).toMatchObject({ readBack: false, ops: 2 + 2 + 2 });
  });

  it('a removed session: its NFACCT objects are deleted after the rules naming them are gone', async () => {
    const { tools, fw } = setup();
    await fw.apply(
      state([
        { key: 's1', mark: 0x20000, tag: 1 },
        { key: 's2', mark: 0x20000, tag: 2 },
      ]),
    );
    tools.calls = [];
    await fw.apply(state());
    expect(kinds(tools.calls)).toEqual(['restore 4', 'restore 6', 'nfacct delete ns-rx-s2 ns-tx-s2']);
    expect(tools.calls[0]).toContain('-X NS-S-s2');
    expect([...tools.objects.keys()].sort()).toEqual(['foreign', 'ns-rx-s1', 'ns-tx-s1']);
  });

  it('adopts existing objects on the first apply: their counts survive', async () => {
    const { tools, fw } = setup();
    tools.objects.set('ns-tx-s1', { pkts: 3n, bytes: 300n });
    tools.objects.set('ns-tx-gone', { pkts: 1n, bytes: 1n });
    await fw.apply(state());
    expect(tools.calls).toContain('nfacct create ns-rx-s1');
    expect(tools.calls).toContain('nfacct delete ns-tx-gone');
    expect(tools.objects.get('ns-tx-s1')).toEqual({ pkts: 3n, bytes: 300n });
    expect(tools.objects.has('ns-tx-gone')).toBe(false);
  });

  it('a failed batch from the cache is retried once from a read-back', async () => {
    const { tools, fw, logs } = setup();
    await fw.apply(state());
    tools.calls = [];
    tools.restoreFailures = 1;
    await fw.apply(state([{ key: 's1', mark: 0x30000, tag: 1 }]));
    expect(kinds(tools.calls)).toEqual(['restore 4', 'save 4', 'save 6', 'nfacct list', 'restore 4', 'restore 6']);
    expect(fw.lastApply).toMatchObject({ readBack: true, attempts: 2, rebuilt: false });
    expect(logs.some((l) => /^warn iptables: batch failed .*line 2 failed.*retrying from a read-back/.test(l))).toBe(
      true,
    );
  });

  it('a batch failing on a fresh read-back: everything of ours is removed and built again; a third failure rejects', async () => {
    const { tools, fw, logs } = setup([4]);
    tools.restoreFailures = 1;
    await fw.apply(state(), { verify: true });
    expect(fw.lastApply).toMatchObject({ attempts: 2, rebuilt: true });
    expect(logs.some((l) => l.startsWith('error iptables: batch failed on a fresh read-back'))).toBe(true);
    tools.restoreFailures = 3;
    await expect(fw.apply(state([{ key: 's9', mark: 0, tag: 9 }]), { verify: true })).rejects.toThrow(/line 2 failed/);
  });

  it('a failure to create NFACCT objects fails the batch before any rule names them (retried from a read-back)', async () => {
    const { tools, fw, logs } = setup([4]);
    await fw.apply(state());
    tools.createFails = true;
    tools.calls = [];
    await expect(
      fw.apply(
        state([
          { key: 's1', mark: 0x20000, tag: 1 },
          { key: 's2', mark: 0, tag: 2 },
        ]),
      ),
    ).rejects.toThrow(/ENOMEM/);
    expect(tools.calls.some((c) => c.startsWith('restore'))).toBe(false);
    expect(logs.filter((l) => l.startsWith('error'))).toEqual([]); // no rebuild: removing rules would not help
    tools.createFails = false;
    await fw.apply(
      state([
        { key: 's1', mark: 0x20000, tag: 1 },
        { key: 's2', mark: 0, tag: 2 },
      ]),
    );
    expect(fw.lastApply?.readBack).toBe(true);
  });

  it('an NFACCT object still referenced elsewhere is left, with a warning; the apply succeeds', async () => {
    const { tools, fw, logs } = setup([4]);
    await fw.apply(
      state([
        { key: 's1', mark: 0x20000, tag: 1 },
        { key: 's2', mark: 0x20000, tag: 2 },
      ]),
    );
    tools.busyOnDelete.add('ns-tx-s2');
    await fw.apply(state());
    expect(tools.objects.has('ns-tx-s2')).toBe(true);
    expect(tools.objects.has('ns-rx-s2')).toBe(false);
    expect(logs.some((l) => /^warn iptables: cannot delete NFACCT object ns-tx-s2/.test(l))).toBe(true);
    // Plain applies leave it alone; a verifying one tries again.
    tools.calls = [];
    await fw.apply(state());
    expect(tools.calls).toEqual([]);
    tools.busyOnDelete.clear();
    await fw.apply(state(), { verify: true });
    expect(tools.objects.has('ns-tx-s2')).toBe(false);
  });

  it('clear() reads back and removes every chain, hook and object of ours, and nothing else', async () => {
    const { tools, fw } = setup([4]);
    await fw.apply(state());
    tools.saves[4] =
      '*mangle\n:OUTPUT ACCEPT [0:0]\n:NS-OUTPUT - [0:0]\n:MINE - [0:0]\n-A OUTPUT -j MINE\n-A OUTPUT -j NS-OUTPUT\n-A NS-OUTPUT -m comment --comment "ns:1" -j RETURN\nCOMMIT\n';
    tools.calls = [];
    await fw.clear();
    expect(kinds(tools.calls)).toEqual(['save 4', 'nfacct list', 'restore 4', 'nfacct delete ns-rx-s1 ns-tx-s1']);
    expect(tools.calls[2]).toBe('restore 4\n*mangle\n-D OUTPUT -j NS-OUTPUT\n-F NS-OUTPUT\n-X NS-OUTPUT\nCOMMIT\n');
    expect([...tools.objects.keys()]).toEqual(['foreign']);
  });

  it('read() gives every session both directions from one NFACCT dump, ignoring other objects', async () => {
    const { tools, fw } = setup();
    tools.objects.set('ns-tx-s1', { pkts: 10n, bytes: 2000n });
    tools.objects.set('ns-rx-s1', { pkts: 4n, bytes: 9007199254740993n });
    tools.calls = [];
    const c = await fw.read();
    expect(tools.calls).toEqual(['nfacct list']);
    expect([...c.keys()]).toEqual(['s1']);
    expect(c.get('s1')).toEqual({ txPackets: 10n, txBytes: 2000n, rxPackets: 4n, rxBytes: 9007199254740993n });
  });

  it('reset() zeroes exactly the objects of those sessions (never all of them)', async () => {
    const { tools, fw } = setup();
    await fw.apply(
      state([
        { key: 's1', mark: 0x20000, tag: 1 },
        { key: 's2', mark: 0x20000, tag: 2 },
      ]),
    );
    tools.objects.set('ns-tx-s1', { pkts: 1n, bytes: 100n });
    tools.objects.set('ns-tx-s2', { pkts: 2n, bytes: 200n });
    tools.calls = [];
    await fw.reset(['s1', 'nope']);
    expect(tools.calls).toEqual(['nfacct reset ns-tx-s1 ns-rx-s1 ns-tx-nope ns-rx-nope']);
    expect(tools.objects.get('ns-tx-s1')).toEqual({ pkts: 0n, bytes: 0n });
    expect(tools.objects.get('ns-tx-s2')).toEqual({ pkts: 2n, bytes: 200n });
    expect(tools.objects.get('foreign')).toEqual({ pkts: 5n, bytes: 500n });
  });

  it('serialises calls: concurrent applies never overlap', async () => {
    const { tools, fw } = setup();
    await Promise.all([
      fw.apply(state()),
      fw.apply(state([{ key: 's1', mark: 0x30000, tag: 1 }])),
      fw.read(),
      fw.apply(state([{ key: 's1', mark: 0x40000, tag: 1 }])),
    ]);
    expect(tools.maxInFlight).toBe(1);
    expect(tools.calls.filter((c) => c.startsWith('restore 4')).at(-1)).toContain('0x40001/0xfffffff');
  });

  it('with IPv4 only, ip6tables is never run', async () => {
    const { tools, fw } = setup([4]);
    await fw.apply(state(), { verify: true });
    expect(tools.calls.some((c) => / 6(\n|$)/.test(c))).toBe(false);
  });
});
