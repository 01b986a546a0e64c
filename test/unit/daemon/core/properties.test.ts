import { describe, expect, it } from 'vitest';
import { Engine } from '../../../../daemon/core/engine.js';
import {
  changedProps,
  serviceProps,
  settingProp,
  technologyProps,
  updateDict,
} from '../../../../daemon/core/properties.js';
import type { SessionSettings, SettingKey } from '../../../../lib/protocol.js';
import { uplink } from '../../../fakes/links.js';

function svc(error = '') {
  const e = new Engine();
  e.linkChanged(uplink(2, 'eth0', 'ethernet', { v6: '2001:db8:1::2' }));
  const s = e.services()[0]!;
  s.error = error;
  return s;
}

describe('ConnMan property dicts', () => {
  it('a service carries ConnMan keys with their signatures, and Error only while there is one', () => {
    const p = serviceProps(svc(), true);
    expect(p).not.toHaveProperty('Error');
    expect(p.State).toEqual({ signature: 's', value: 'ready' });
    expect(p.Type).toEqual({ signature: 's', value: 'ethernet' });
    expect((p.Ethernet!.value as Record<string, { signature: string }>).MTU!.signature).toBe('q');
    expect((p.IPv6!.value as Record<string, { signature: string; value: unknown }>).PrefixLength).toEqual({
      signature: 'y',
      value: 64,
    });
    expect(serviceProps(svc('online-check-failed'), true).Error).toEqual({
      signature: 's',
      value: 'online-check-failed',
    });
  });

  it('changedProps reports changed keys, and a vanished Error as an empty string', () => {
    const failed = serviceProps(svc('online-check-failed'), true);
    const ok = serviceProps(svc(), true);
    expect(changedProps(failed, ok)).toEqual([['Error', { signature: 's', value: '' }]]);
    expect(changedProps(ok, failed)).toEqual([['Error', { signature: 's', value: 'online-check-failed' }]]);
    expect(changedProps(ok, ok)).toEqual([]);
    expect(changedProps(undefined, ok)).toEqual([]);
  });

  it('session settings keep the wire signatures, including nested dicts', () => {
    expect(settingProp('AllowedBearers', ['wifi'])).toEqual({ signature: 'as', value: ['wifi'] });
    expect(settingProp('IPv6', { Method: 'auto', PrefixLength: 64 })).toEqual({
      signature: 'a{sv}',
      value: { Method: { signature: 's', value: 'auto' }, PrefixLength: { signature: 'y', value: 64 } },
    });
    const changes = new Map<SettingKey, SessionSettings[SettingKey]>([
      ['SourceIPRule', true],
      ['State', 'online'],
    ]);
    const d = updateDict(changes);
    expect(Object.keys(d)).toEqual(['SourceIPRule', 'State']);
    expect(technologyProps({ type: 'wifi', name: 'WiFi', powered: true, connected: false }).Connected).toEqual({
      signature: 'b',
      value: false,
    });
  });
});
