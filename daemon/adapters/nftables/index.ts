/**
 * The nftables datapath adapter (Firewall + Accounting ports). See backend.ts for the
 * reconciliation and ruleset.ts for the table it builds.
 */

export type { CgroupRef } from '../firewall/cgroup.js';
export type { ApplyOptions, ApplyStats, NftablesBackendOptions } from './backend.js';
export { createNftablesBackend, NftablesBackend } from './backend.js';
export type { NftRunner, NftRunnerOptions } from './nft.js';
export { createNftRunner, NftError } from './nft.js';
