/**
 * The SNAT rules of the postrouting chain as the session path writes them (delta.ts): their
 * model (text, fingerprint, spec) and their netlink command, built once per entry. Pure.
 */

import { addressBytes } from '../../core/addresses.js';
import { BoundedMap } from '../../core/bounded-map.js';
import type { Family } from '../../core/services.js';
import { fingerprint } from '../firewall/fingerprint.js';
import type { RuleModel } from './model.js';
import * as nl from './netlink-encode.js';
import { CHAIN, snatRule } from './ruleset.js';

/**
 * SNAT rules by table, mask and entry. The postrouting chain is rewritten whenever its set of
 * entries changes, so the same rules recur (a SourceIPRule session's create and destroy rewrite
 * its service's rule each time); their text, fingerprint and command are built once. The rule
 * models and commands are never modified once built (the table model only ever replaces them).
 */
const built = new BoundedMap<string, { rule: RuleModel; command: nl.Command }>(64);

export function snatOf(
  table: string,
  mask: number,
  e: { mark: number; ifname: string; family: Family; address: string },
): { rule: RuleModel; command: nl.Command } {
  const key = `${table} ${mask} ${e.mark} ${e.ifname} ${e.family} ${e.address}`;
  const known = built.get(key);
  if (known !== undefined) return known;
  const text = snatRule(mask, e.mark, e.ifname, e.family, e.address);
  const id = fingerprint(text);
  const address = Buffer.from(addressBytes(e.family, e.address) as number[]);
  return built.set(key, {
    rule: {
      id,
      text,
      spec: { kind: 'snat', mask, mark: e.mark, ifname: e.ifname, family: e.family, address: e.address },
    },
    command: nl.addSnatRule(table, CHAIN.postrouting, mask, e.mark, e.ifname, e.family, address, id),
  });
}
