/**
 * The daemon's NETLINK_NETFILTER request socket against a real kernel, in a namespace of its own:
 * a receive overrun (ENOBUFS) is a typed error, the process lives on, and the socket keeps working
 * (the nftables backend then re-reads the kernel; see the backend's unit tests for that half).
 */

import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSandbox, requireRoot, type Sandbox } from './harness/sandbox.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..', '..');
const DRIVER = join(HERE, 'drivers', 'netlink-overrun-driver.ts');

describe.skipIf(!requireRoot())('netlink request socket (real kernel, sandbox)', () => {
  let sb: Sandbox;
  beforeAll(async () => {
    sb = await createSandbox({ dbus: false });
    await sb.run(sb.devNs, ['nft', 'add table inet overrun; add counter inet overrun c']);
  });
  afterAll(async () => {
    await sb?.destroy();
  });

  it('ENOBUFS is reported as NetlinkOverrunError; the process and the socket survive it', async () => {
    const { stdout } = await sb.run(sb.devNs, [process.execPath, '--import', 'tsx', DRIVER, 'overrun'], { cwd: ROOT });
    const res = JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as {
      overrun: { name: string; message: string } | null;
      after: Array<{ name: string }>;
      alive: boolean;
    };
    expect(res.overrun?.name).toBe('NetlinkOverrunError');
    expect(res.overrun?.message).toMatch(/ENOBUFS/);
    expect(res.after).toEqual([{ name: 'c', packets: '0' }]);
    expect(res.alive).toBe(true);
  });
});
