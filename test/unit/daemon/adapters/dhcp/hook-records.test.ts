import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import type { HookRecord } from '../../../../../daemon/adapters/dhcp/hook-records.js';
import {
  HookRecordSplitter,
  LeaseTracker,
  leaseOfRecord,
  prefixOfNetmask,
} from '../../../../../daemon/adapters/dhcp/hook-records.js';
import { UDHCPC_HOOK } from '../../../../../daemon/adapters/dhcp/udhcpc-client.js';

function record(event: string, env: Record<string, string> = {}): Buffer {
  const entries = [...Object.entries(env).map(([k, v]) => `${k}=${v}`), `NETSESSION_DHCP_EVENT=${event}`];
  return Buffer.from(`${entries.join('\0')}\0\0`);
}

const BOUND = {
  interface: 'eth-b',
  ip: '198.51.100.19',
  mask: '29',
  subnet: '255.255.255.248',
  router: '198.51.100.17',
  dns: '203.0.113.53 203.0.113.54',
  lease: '120',
  serverid: '198.51.100.17',
};

function rec(event: string, env: Record<string, string> = {}): HookRecord {
  const [r] = new HookRecordSplitter().push(record(event, env));
  if (!r) throw new Error('no record');
  return r;
}

describe('HookRecordSplitter', () => {
  it('splits records however the stream is chunked', () => {
    const stream = Buffer.concat([record('deconfig'), record('bound', BOUND), record('renew', BOUND)]);
    for (const size of [1, 2, 7, 64, stream.length]) {
      const s = new HookRecordSplitter();
      const got: HookRecord[] = [];
      for (let i = 0; i < stream.length; i += size) got.push(...s.push(stream.subarray(i, i + size)));
      expect(got.map((r) => r.event)).toEqual(['deconfig', 'bound', 'renew']);
      expect(got[1]?.env.get('dns')).toBe('203.0.113.53 203.0.113.54');
    }
  });

  it('keeps values with newlines, quotes and shell syntax verbatim and ignores records without an event', () => {
    const nasty = "x'; rm -rf / #\n$(reboot)`id`";
    const s = new HookRecordSplitter();
    const out = s.push(Buffer.concat([Buffer.from('domain=a\0\0'), record('bound', { ...BOUND, domain: nasty })]));
    expect(out).toHaveLength(1);
    expect(out[0]?.env.get('domain')).toBe(nasty);
  });

  it('drops a runaway record and recovers at the next boundary', () => {
    const s = new HookRecordSplitter();
    expect(s.push(Buffer.alloc(70_000, 0x41))).toEqual([]);
    expect(s.push(Buffer.from('\0\0')).length).toBe(0);
    expect(s.push(record('bound', BOUND)).map((r) => r.event)).toEqual(['bound']);
  });
});

describe('the shipped hook script', () => {
  it('reports its environment and event without interpreting hostile values', () => {
    const nasty = 'a"$(touch /tmp/netsession-pwned)`id`;\nb\'c';
    const out = execFileSync(UDHCPC_HOOK, ['bound'], {
      env: { PATH: '/usr/bin:/bin', ip: '198.51.100.19', domain: nasty },
    });
    const [r, ...rest] = new HookRecordSplitter().push(out);
    expect(rest).toEqual([]);
    expect(r?.event).toBe('bound');
    expect(r?.env.get('domain')).toBe(nasty);
    expect(r?.env.get('ip')).toBe('198.51.100.19');
  });
});

describe('leaseOfRecord', () => {
  it('reads address, prefix, first router, DNS, lease time and server', () => {
    expect(leaseOfRecord(rec('bound', BOUND))).toEqual({
      address: '198.51.100.19',
      prefixLength: 29,
      router: '198.51.100.17',
      dns: ['203.0.113.53', '203.0.113.54'],
      leaseSeconds: 120,
      serverId: '198.51.100.17',
    });
  });

  it('falls back to the dotted subnet and drops invalid parts', () => {
    const l = leaseOfRecord(
      rec('bound', {
        ip: '198.51.100.20',
        subnet: '255.255.255.0',
        router: 'evil 198.51.100.1',
        dns: '203.0.113.53 ;rm 2001:db8::1 999.1.1.1',
        lease: '-5',
        serverid: 'x',
      }),
    );
    expect(l).toEqual({
      address: '198.51.100.20',
      prefixLength: 24,
      router: '198.51.100.1',
      dns: ['203.0.113.53'],
      leaseSeconds: 0,
      serverId: '',
    });
  });

  it('rejects records without a usable address or prefix', () => {
    expect(leaseOfRecord(rec('bound', { ...BOUND, ip: '198.51.100.300' }))).toBeUndefined();
    expect(leaseOfRecord(rec('bound', { ...BOUND, ip: '0.0.0.0' }))).toBeUndefined();
    expect(leaseOfRecord(rec('bound', { ip: '198.51.100.19', subnet: '255.0.255.0' }))).toBeUndefined();
  });

  it('prefixOfNetmask accepts only contiguous masks', () => {
    expect(prefixOfNetmask('255.255.255.255')).toBe(32);
    expect(prefixOfNetmask('255.255.255.248')).toBe(29);
    expect(prefixOfNetmask('128.0.0.0')).toBe(1);
    expect(prefixOfNetmask('0.0.0.0')).toBe(0);
    expect(prefixOfNetmask('255.255.0.255')).toBeUndefined();
    expect(prefixOfNetmask('nonsense')).toBeUndefined();
  });
});

describe('LeaseTracker', () => {
  it('ignores the start-up deconfig, then reports bound, renew and expire', () => {
    const t = new LeaseTracker();
    expect(t.onRecord(rec('deconfig'))).toEqual([]);
    expect(t.onRecord(rec('leasefail'))).toEqual([]);
    expect(t.onRecord(rec('bound', BOUND)).map((e) => e.type)).toEqual(['bound']);
    expect(t.onRecord(rec('renew', { ...BOUND, lease: '600' }))).toMatchObject([{ type: 'renew', leaseSeconds: 600 }]);
    expect(t.onRecord(rec('nak'))).toEqual([]);
    expect(t.onRecord(rec('deconfig'))).toMatchObject([{ type: 'expire', address: '198.51.100.19' }]);
    expect(t.lease).toBeUndefined();
  });

  it('a renew with another address is a new bound', () => {
    const t = new LeaseTracker();
    t.onRecord(rec('bound', BOUND));
    expect(t.onRecord(rec('renew', { ...BOUND, ip: '198.51.100.20' }))).toMatchObject([
      { type: 'bound', address: '198.51.100.20' },
    ]);
  });

  it('reports release once when stopping', () => {
    const t = new LeaseTracker();
    t.onRecord(rec('bound', BOUND));
    t.stopping();
    expect(t.onRecord(rec('deconfig'))).toMatchObject([
      { type: 'release', address: '198.51.100.19', dns: ['203.0.113.53', '203.0.113.54'] },
    ]);
    expect(t.end('release')).toEqual([]);
  });

  it('a restarted process keeps the inherited lease through its start-up deconfig', () => {
    const first = new LeaseTracker();
    first.onRecord(rec('bound', BOUND));
    const second = new LeaseTracker(first.lease);
    expect(second.onRecord(rec('deconfig'))).toEqual([]);
    expect(second.lease?.address).toBe('198.51.100.19');
    expect(second.end('release')).toMatchObject([{ type: 'release', address: '198.51.100.19' }]);
  });
});
