/**
 * The iptables + NFACCT datapath adapter (Firewall + Accounting ports), for kernels without
 * nftables. See backend.ts for the reconciliation and ruleset.ts for the chains it builds.
 */
export { IptablesBackend, createIptablesBackend } from './backend.js';
export type { ApplyOptions, ApplyStats, IptablesBackendOptions } from './backend.js';
export { IptablesError, createIptablesRunner } from './tools.js';
export type { IptablesRunner, IptablesRunnerOptions } from './tools.js';
