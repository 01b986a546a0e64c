import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseMessages } from '../../../../../daemon/adapters/netlink/request-socket.js';
import { diffTable } from '../../../../../daemon/adapters/nftables/diff.js';
import { encodeBatch } from '../../../../../daemon/adapters/nftables/netlink-encode.js';
import { opsToNetlink } from '../../../../../daemon/adapters/nftables/netlink-ops.js';
import { NetlinkUnsupportedError } from '../../../../../daemon/adapters/nftables/netlink-table.js';
import { FIXTURE_TABLE } from './fixtures/full-table-state.js';

const table = FIXTURE_TABLE;

describe('the full table over netlink', () => {
  it('building the table from empty sends exactly the messages nft 1.0.6 sends for the same script (recapture: fixtures/capture-nft-mnl.ts)', () => {
    const expected = readFileSync(new URL('fixtures/nft-full-table.txt', import.meta.url), 'utf8')
      .split('\n')
      .filter((l) => l !== '' && !l.startsWith('#'))
      .map((l) => l.split(' '));
    let seq = 1;
    const batch = encodeBatch(opsToNetlink(diffTable(null, table), 'netsession', [table.maps]), () => seq++);
    const got = parseMessages(batch.buf, batch.buf.length).slice(1, -1);
    expect(got.map((m) => [String(m.type), m.payload.toString('hex')])).toEqual(expected);
  });

  it('what the encoder never writes (an object found in a read-back) is refused, so nft runs that diff', () => {
    const actual = { ...table, others: [{ kind: 'quota', name: 'q' }] };
    expect(() => opsToNetlink(diffTable(actual, table), 'netsession', [table.maps])).toThrow(NetlinkUnsupportedError);
  });

  it('element keys of a read-back (decimal marks, addresses) are encoded for deletes', () => {
    const actual = structuredClone(table);
    actual.maps.get('tx')!.elements.set('7', { key: '7', value: '"tx_gone"' });
    actual.maps.get('src4')!.elements.set('203.0.113.9', { key: '203.0.113.9', value: '0x00020001' });
    const cmds = opsToNetlink(diffTable(actual, table), 'netsession', [table.maps]);
    const hex = cmds.map((c) => Buffer.concat(c.attrs).toString('hex'));
    expect(cmds.map((c) => c.type)).toEqual([14, 14]);
    expect(hex.some((h) => h.includes('0800010007000000'))).toBe(true); // mark 7, host order
    expect(hex.some((h) => h.includes('08000100cb007109'))).toBe(true); // 203.0.113.9, network order
  });
});
