/**
 * Which interfaces netsessiond configures itself (manage) and which it only reads (observe).
 *
 * Precedence, most specific intent first:
 *   1. a name matching any `observe` glob is observed, even if a `manage` glob matches too — so
 *      `manage: ['eth*'], observe: ['eth9']` carves one port out of a broad manage rule, and a
 *      mistake can only make netsessiond do less to an interface, never more;
 *   2. otherwise a name matching any `manage` glob is managed;
 *   3. otherwise observed: the default, as before manage mode existed, so an empty config changes
 *      nothing on the machine.
 */
import { compileGlobList } from './glob.js';

/** Manage-mode section of the configuration: interface-name globs (glob.ts syntax). */
export interface ManageModeConfig {
  manage: readonly string[];
  observe: readonly string[];
}

/** `manage`: netsessiond configures the link; `observe`: another tool does, netsessiond only reads. */
export type InterfaceMode = 'manage' | 'observe';

/** Compiles the config once; the returned function classifies an interface name. */
export function compileModeOf(config: ManageModeConfig): (ifname: string) => InterfaceMode {
  const observe = compileGlobList(config.observe);
  const manage = compileGlobList(config.manage);
  return (ifname) => (observe(ifname) ? 'observe' : manage(ifname) ? 'manage' : 'observe');
}
