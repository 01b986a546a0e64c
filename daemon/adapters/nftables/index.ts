/**
 * The nftables datapath adapter (Firewall + Accounting ports). See backend.ts for the
 * reconciliation and ruleset.ts for the table it builds.
 */
export { NftablesBackend, createNftablesBackend } from './backend.js';
export type { ApplyOptions, ApplyStats, NftablesBackendOptions } from './backend.js';
export { NftError, createNftRunner } from './nft.js';
export type { NftRunner, NftRunnerOptions } from './nft.js';
export type { CgroupRef } from '../firewall/cgroup.js';
