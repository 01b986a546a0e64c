import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isOurNfacct, sessionCounters } from '../../../../../daemon/adapters/iptables/counters.js';
import { decodeObject, encodeNameRequest, validNfacctName } from '../../../../../daemon/adapters/iptables/nfacct.js';
import { chooseBinaries, summariseRestoreError } from '../../../../../daemon/adapters/iptables/tools.js';

describe('choosing the iptables binaries', () => {
  it('legacy when all four legacy tools are on PATH, else the plain names; forced either way', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ipt-path-'));
    try {
      const exe = (name: string) => {
        writeFileSync(join(dir, name), '#!/bin/sh\n');
        chmodSync(join(dir, name), 0o755);
      };
      for (const n of ['iptables-legacy-save', 'iptables-legacy-restore', 'ip6tables-legacy-save']) exe(n);
      expect(chooseBinaries('auto', dir)).toEqual({
        legacy: false,
        save: { 4: 'iptables-save', 6: 'ip6tables-save' },
        restore: { 4: 'iptables-restore', 6: 'ip6tables-restore' },
      });
      exe('ip6tables-legacy-restore');
      expect(chooseBinaries('auto', `/nonexistent:${dir}`)).toEqual({
        legacy: true,
        save: { 4: 'iptables-legacy-save', 6: 'ip6tables-legacy-save' },
        restore: { 4: 'iptables-legacy-restore', 6: 'ip6tables-legacy-restore' },
      });
      expect(chooseBinaries('plain', dir).legacy).toBe(false);
      expect(chooseBinaries('legacy', '/nonexistent').restore[6]).toBe('ip6tables-legacy-restore');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('summariseRestoreError', () => {
  const script = '*mangle\n-N NS-A\n-A NS-A -m nfacct --nfacct-name nope -j RETURN\nCOMMIT\n';
  it('names the script line the tool points at', () => {
    expect(summariseRestoreError('iptables-legacy-restore', 'iptables-restore: line 4 failed\n', 1, script)).toBe(
      'iptables-legacy-restore failed (exit 1): iptables-restore: line 4 failed (in: COMMIT)',
    );
    expect(
      summariseRestoreError(
        'ip6tables-restore',
        "ip6tables-restore v1.8.9 (legacy): chain name `x' too long\nError occurred at line: 2\nTry `ip6tables-restore -h' for more information.\n",
        2,
        script,
      ),
    ).toBe(
      "ip6tables-restore failed (exit 2): ip6tables-restore v1.8.9 (legacy): chain name `x' too long; Error occurred at line: 2 (in: -N NS-A)",
    );
    expect(summariseRestoreError('iptables-restore', '', null, script)).toBe('iptables-restore failed (killed)');
  });
});

describe('NFACCT object names', () => {
  it('only ns-tx-<key> / ns-rx-<key> are ours', () => {
    expect(['ns-tx-s1', 'ns-rx-a.b', 'ns-tx-', 'ns-other', 'session-input-1'].map(isOurNfacct)).toEqual([
      true,
      true,
      false,
      false,
      false,
    ]);
    const c = sessionCounters(
      new Map([
        ['ns-tx-s1', { pkts: 2n, bytes: 104n }],
        ['ns-rx-s2', { pkts: 1n, bytes: 60n }],
        ['foreign', { pkts: 9n, bytes: 9n }],
      ]),
    );
    expect(Object.fromEntries(c)).toEqual({
      s1: { txPackets: 2n, txBytes: 104n, rxPackets: 0n, rxBytes: 0n },
      s2: { txPackets: 0n, txBytes: 0n, rxPackets: 1n, rxBytes: 60n },
    });
  });
});

describe('NFACCT over netlink: message codec', () => {
  it('a request naming one object: nfgenmsg, then NFACCT_NAME NUL-terminated and padded to 4 bytes', () => {
    expect(encodeNameRequest('ns-tx-s1').toString('hex')).toBe(
      `000000000d000100${Buffer.from('ns-tx-s1\0').toString('hex')}000000`,
    );
    expect(() => encodeNameRequest('x'.repeat(32))).toThrow(/longer than 31 bytes/);
    expect(['ns-tx-s1', 'x'.repeat(31), 'x'.repeat(32), '', 'a\0b'].map(validNfacctName)).toEqual([
      true,
      true,
      false,
      false,
      false,
    ]);
  });

  it('decodes an object as the kernel dumps it (name, big-endian u64 counts, use count ignored)', () => {
    // Captured from `NFNL_MSG_ACCT_GET` with NLM_F_DUMP on kernel 6.18: object "a3", 0 packets, 0 bytes, use 1.
    const zero = Buffer.from(
      '0000000007000100613300000c00020000000000000000000c00030000000000000000000800040000000001',
      'hex',
    );
    expect(decodeObject(zero)).toEqual({ name: 'a3', value: { pkts: 0n, bytes: 0n } });
    const big = Buffer.concat([
      Buffer.from('00000000', 'hex'),
      Buffer.from('0b000100', 'hex'),
      Buffer.from('ns-rx-a\0'), // 4 + 8 = 12: no padding
      Buffer.from('0c000200', 'hex'),
      Buffer.from('0000000000000015', 'hex'),
      Buffer.from('0c000300', 'hex'),
      Buffer.from('0020000000000001', 'hex'),
    ]);
    expect(decodeObject(big)).toEqual({ name: 'ns-rx-a', value: { pkts: 21n, bytes: 9007199254740993n } });
    expect(decodeObject(Buffer.from('00000000', 'hex'))).toBeNull();
  });
});
