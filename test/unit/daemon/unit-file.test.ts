/**
 * The shipped systemd unit declares the readiness protocol the daemon speaks (sd-notify.ts):
 * Type=notify with only the main pid allowed to notify, and a watchdog the daemon pings.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const unit = readFileSync(new URL('../../../daemon/netsessiond.service', import.meta.url), 'utf8');
const keys = (name: string) => [...unit.matchAll(new RegExp(`^${name}=(.*)$`, 'gm'))].map((m) => m[1]);

describe('daemon/netsessiond.service', () => {
  it('waits for READY=1 from the main pid and sets a watchdog', () => {
    expect(keys('Type')).toEqual(['notify']);
    expect(keys('NotifyAccess')).toEqual(['main']);
    expect(keys('WatchdogSec')).toHaveLength(1);
  });
});
