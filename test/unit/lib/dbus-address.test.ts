/**
 * D-Bus addresses (lib/dbus/address.ts): the sockets to try, and the server GUID a peer address
 * names (the private socket's clients refuse a server that shows another).
 *
 * | input                                                      | expected                          |
 * |------------------------------------------------------------|-----------------------------------|
 * | `unix:path=/a,guid=<32 hex>`                               | path `/a`, GUID (lower case)      |
 * | a list whose second entry has the GUID                     | that GUID                         |
 * | no guid, a short one, `xguid=`                             | null                              |
 * | `unix:abstract=x;tcp:host=h;unix:path=%2Fb`                | `\0x`, `/b` (tcp skipped)         |
 */
import { describe, expect, it } from 'vitest';
import { guidOf, socketPathsOf } from '../../../lib/dbus/address.js';

const G = '0123456789ABCDEF0123456789abcdef';

describe('D-Bus addresses', () => {
  it('finds the server GUID of a peer address', () => {
    expect(socketPathsOf(`unix:path=/a,guid=${G}`)).toEqual(['/a']);
    expect(guidOf(`unix:path=/a,guid=${G}`)).toBe(G.toLowerCase());
    expect(guidOf(`unix:path=/a;unix:path=/b,guid=${G}`)).toBe(G.toLowerCase());
  });

  it.each(['unix:path=/a', 'unix:path=/a,guid=0123', `unix:path=/a,xguid=${G}`])('finds no GUID in %s', (a) => {
    expect(guidOf(a)).toBeNull();
  });

  it('lists every unix socket of an address list in order', () => {
    expect(socketPathsOf('unix:abstract=x;tcp:host=h;unix:path=%2Fb')).toEqual(['\0x', '/b']);
  });
});
