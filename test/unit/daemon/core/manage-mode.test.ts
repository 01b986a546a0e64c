import { describe, expect, it } from 'vitest';
import { compileModeOf } from '../../../../daemon/core/manage-mode.js';

describe('compileModeOf', () => {
  it('observes everything with an empty config (the behaviour before manage mode)', () => {
    const modeOf = compileModeOf({ manage: [], observe: [] });
    expect(modeOf('eth0')).toBe('observe');
    expect(modeOf('wlan0')).toBe('observe');
  });

  it('manages names matching a manage glob, observes the rest', () => {
    const modeOf = compileModeOf({ manage: ['eth*', 'wlan[01]'], observe: [] });
    expect(modeOf('eth0')).toBe('manage');
    expect(modeOf('wlan1')).toBe('manage');
    expect(modeOf('wlan2')).toBe('observe');
    expect(modeOf('veth0')).toBe('observe');
  });

  it('lets an observe glob carve an interface out of a manage glob', () => {
    const modeOf = compileModeOf({ manage: ['eth*'], observe: ['eth9'] });
    expect(modeOf('eth9')).toBe('observe');
    expect(modeOf('eth8')).toBe('manage');
  });

  it('observe wins even when both globs are identical', () => {
    expect(compileModeOf({ manage: ['*'], observe: ['*'] })('eth0')).toBe('observe');
  });

  it('matches whole names only, case-sensitively', () => {
    const modeOf = compileModeOf({ manage: ['eth0'], observe: [] });
    expect(modeOf('eth0')).toBe('manage');
    expect(modeOf('eth01')).toBe('observe');
    expect(modeOf('ETH0')).toBe('observe');
  });
});
