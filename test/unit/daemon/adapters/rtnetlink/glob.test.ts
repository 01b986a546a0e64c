import { describe, expect, it } from 'vitest';
import { compileGlob, compileGlobList, globMatch } from '../../../../../daemon/adapters/rtnetlink/glob.js';

describe('glob matcher', () => {
  it('matches literal names exactly and anchored', () => {
    expect(globMatch('eth0', 'eth0')).toBe(true);
    expect(globMatch('eth0', 'eth00')).toBe(false);
    expect(globMatch('eth0', 'xeth0')).toBe(false);
    expect(globMatch('', '')).toBe(true);
    expect(globMatch('', 'a')).toBe(false);
  });

  it('* matches any run, including an empty one', () => {
    expect(globMatch('eth*', 'eth')).toBe(true);
    expect(globMatch('eth*', 'eth12')).toBe(true);
    expect(globMatch('*0', 'wlan0')).toBe(true);
    expect(globMatch('*0', 'wlan1')).toBe(false);
    expect(globMatch('w*n*', 'wwan3')).toBe(true);
    expect(globMatch('*', '')).toBe(true);
  });

  it('? matches exactly one character', () => {
    expect(globMatch('eth?', 'eth1')).toBe(true);
    expect(globMatch('eth?', 'eth')).toBe(false);
    expect(globMatch('eth?', 'eth12')).toBe(false);
  });

  it('supports character classes, ranges and negation', () => {
    expect(globMatch('eth[01]', 'eth1')).toBe(true);
    expect(globMatch('eth[01]', 'eth2')).toBe(false);
    expect(globMatch('wlan[0-3]', 'wlan3')).toBe(true);
    expect(globMatch('wlan[0-3]', 'wlan4')).toBe(false);
    expect(globMatch('wlan[!0-3]', 'wlan4')).toBe(true);
    expect(globMatch('wlan[!0-3]', 'wlan2')).toBe(false);
    expect(globMatch('wlan[^0]', 'wlan1')).toBe(true);
    expect(globMatch('x[a-cx-z]', 'xy')).toBe(true);
    expect(globMatch('x[a-cx-z]', 'xm')).toBe(false);
  });

  it('treats a dash at either end of a class, and ] first in a class, literally', () => {
    expect(globMatch('a[-b]', 'a-')).toBe(true);
    expect(globMatch('a[b-]', 'a-')).toBe(true);
    expect(globMatch('a[b-]', 'ac')).toBe(false);
    expect(globMatch('a[]b]', 'a]')).toBe(true);
    expect(globMatch('a[!]]', 'a]')).toBe(false);
    expect(globMatch('a[!]]', 'ab')).toBe(true);
  });

  it('escapes with a backslash and keeps regex specials literal', () => {
    expect(globMatch('a\\*', 'a*')).toBe(true);
    expect(globMatch('a\\*', 'ab')).toBe(false);
    expect(globMatch('ve.1', 've.1')).toBe(true);
    expect(globMatch('ve.1', 'vex1')).toBe(false);
    expect(globMatch('a+(b)$', 'a+(b)$')).toBe(true);
    expect(globMatch('a|b', 'a')).toBe(false);
  });

  it('takes an unterminated bracket literally and a reversed range as matching nothing', () => {
    expect(globMatch('eth[0', 'eth[0')).toBe(true);
    expect(globMatch('eth[0', 'eth0')).toBe(false);
    expect(globMatch('eth[9-0]', 'eth5')).toBe(false);
  });

  it('compiles once and matches many times', () => {
    const m = compileGlob('veth*');
    expect(['veth0', 'veth1', 'eth0'].map(m)).toEqual([true, true, false]);
  });

  it('a list matches when any glob matches; an empty list never matches', () => {
    const m = compileGlobList(['eth*', 'w?an0']);
    expect(m('eth3')).toBe(true);
    expect(m('wlan0')).toBe(true);
    expect(m('wwan0')).toBe(true);
    expect(m('usb0')).toBe(false);
    expect(compileGlobList([])('anything')).toBe(false);
  });
});
