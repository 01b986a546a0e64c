import { describe, expect, it } from 'vitest';
import type { FirewallState } from '../../../../../daemon/ports.js';
import { createNftablesBackend } from '../../../../../daemon/adapters/nftables/backend.js';
import { NftError } from '../../../../../daemon/adapters/nftables/nft.js';
import type { NftRunner } from '../../../../../daemon/adapters/nftables/nft.js';

const ENOENT = () => new NftError('nft: Could not process rule: No such file or directory', 'Error: Could not process rule: No such file or directory', 1);

/** Records every call; the table is absent until `listing` is set; scripts fail while `failures` > 0. */
class FakeNft implements NftRunner {
  listing: string | null = null;
  counters = '{"nftables":[]}';
  failures = 0;
  calls: string[] = [];
  inFlight = 0;
  maxInFlight = 0;

  async run(args: readonly string[]): Promise<string> {
    this.calls.push(`run ${args.join(' ')}`);
    if (args.includes('counters')) {
      if (this.listing === null) throw ENOENT();
      return this.counters;
    }
    if (this.listing === null) throw ENOENT();
    return this.listing;
  }

  async script(text: string): Promise<void> {
    this.calls.push(`script ${text}`);
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    await new Promise((r) => setTimeout(r, 2));
    this.inFlight--;
    if (this.failures > 0) {
      this.failures--;
      throw ENOENT();
    }
  }
}

const EMPTY_LISTING = '{"nftables":[{"table":{"family":"inet","name":"netsession","handle":1}}]}';

function state(mark = 0x20000): FirewallState {
  return {
    mask: 0x0fff0000,
    tagMask: 0xffff,
    sessions: [{ sessionKey: 's1', mark, tag: 1, ifname: 'eth-b', snat: [{ family: 4, address: '198.51.100.18' }] }],
    classifiers: [{ kind: 'uid', key: '1001', sessionKey: 's1' }],
  };
}

function setup() {
  const nft = new FakeNft();
  const logs: string[] = [];
  const fw = createNftablesBackend({ runner: nft, cgroupResolver: () => () => null, log: (l, m) => logs.push(`${l} ${m}`) });
  return { nft, fw, logs };
}

describe('nftables backend (cache, verify, retries)', () => {
  it('reads back on the first apply only; the same state again runs nothing', async () => {
    const { nft, fw } = setup();
    await fw.apply(state());
    expect(nft.calls[0]).toBe('run -j list table inet netsession');
    expect(nft.calls[1]).toMatch(/^script add table inet netsession\n/);
    expect(fw.lastApply).toMatchObject({ readBack: true, attempts: 1, rebuilt: false });
    expect(fw.lastOps).toBeGreaterThan(10);
    nft.calls = [];
    await fw.apply(state());
    expect(nft.calls).toEqual([]);
    expect(fw.lastOps).toBe(0);
    expect(fw.lastBatchSize).toBe(0);
  });

  it('a moved session is diffed against the cache, without reading back', async () => {
    const { nft, fw } = setup();
    await fw.apply(state());
    nft.calls = [];
    await fw.apply(state(0x30000));
    expect(nft.calls).toHaveLength(1);
    expect(nft.calls[0]).toMatch(/^script flush chain inet netsession s_s1\nadd rule inet netsession s_s1 /);
    expect(fw.lastApply?.readBack).toBe(false);
  });

  it('verify reads the kernel and repairs what the cache would not see', async () => {
    const { nft, fw } = setup();
    await fw.apply(state());
    nft.listing = EMPTY_LISTING; // the kernel lost everything but the table
    nft.calls = [];
    await fw.verify();
    expect(nft.calls[0]).toBe('run -j list table inet netsession');
    expect(nft.calls[1]).toMatch(/^script add counter inet netsession tx_s1\n/);
    expect(fw.lastApply).toMatchObject({ readBack: true });
  });

  it('a failed batch is retried once from a read-back', async () => {
    const { nft, fw, logs } = setup();
    await fw.apply(state());
    nft.listing = EMPTY_LISTING;
    nft.failures = 1;
    nft.calls = [];
    await fw.apply(state(0x30000));
    expect(nft.calls.map((c) => c.split(' ').slice(0, 2).join(' '))).toEqual(['script flush', 'run -j', 'script add']);
    expect(fw.lastApply).toMatchObject({ readBack: true, attempts: 2, rebuilt: false });
    expect(logs.join('\n')).toMatch(/retrying from a read-back/);
  });

  it('when the read-back batch fails too, the table is deleted and built again; then it gives up', async () => {
    const { nft, fw, logs } = setup();
    nft.listing = EMPTY_LISTING;
    nft.failures = 1;
    await fw.apply(state());
    expect(nft.calls.filter((c) => c.startsWith('script')).map((c) => c.split('\n')[0])).toEqual([
      'script add counter inet netsession tx_s1',
      'script delete table inet netsession',
      'script add table inet netsession',
    ]);
    expect(fw.lastApply).toMatchObject({ rebuilt: true, attempts: 2 });
    expect(logs.join('\n')).toMatch(/counters are lost/);

    nft.failures = 5;
    await expect(fw.apply(state(0x30000))).rejects.toThrow(/No such file/);
  });

  it('read and reset: absent table → nothing; reset only names existing counters, in one call', async () => {
    const { nft, fw } = setup();
    expect((await fw.read()).size).toBe(0);
    await fw.reset(['s1']);
    expect(nft.calls.filter((c) => c.startsWith('script'))).toEqual([]);
    await fw.apply(state());
    nft.calls = [];
    await fw.reset(['s1', 'gone']);
    expect(nft.calls).toEqual(['script reset counter inet netsession tx_s1\nreset counter inet netsession rx_s1']);
  });

  it('clear deletes the table; the next apply creates it without a read-back', async () => {
    const { nft, fw } = setup();
    await fw.apply(state());
    await fw.clear();
    expect(nft.calls.at(-1)).toBe('script delete table inet netsession');
    nft.calls = [];
    await fw.apply(state());
    expect(nft.calls[0]).toMatch(/^script add table inet netsession\n/);
  });

  it('serialises concurrent calls', async () => {
    const { nft, fw } = setup();
    await Promise.all([fw.apply(state()), fw.apply(state(0x30000)), fw.reset(['s1']), fw.apply(state(0x40000)), fw.clear()]);
    expect(nft.maxInFlight).toBe(1);
    expect(nft.calls.at(-1)).toBe('script delete table inet netsession');
  });

  it('refuses a table name nft could not parse', () => {
    expect(() => createNftablesBackend({ table: 'a b' })).toThrow(/table name/);
  });
});
