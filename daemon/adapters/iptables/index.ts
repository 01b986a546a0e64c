/**
 * The iptables + NFACCT datapath adapter (Firewall + Accounting ports), for kernels without
 * nftables (`--firewall iptables`). See backend.ts for the reconciliation, ruleset.ts for the
 * chains it builds and nfacct.ts for the counters.
 */

export type { ApplyOptions, ApplyStats, IptablesBackendOptions } from './backend.js';
export { createIptablesBackend, IptablesBackend } from './backend.js';
export type { NfacctClient, NfacctClientOptions, NfacctFailure, NfacctValue } from './nfacct.js';
export { createNfacctClient, NfacctError } from './nfacct.js';
export type { IptablesRunner, IptablesRunnerOptions } from './tools.js';
export { chooseBinaries, createIptablesRunner, IptablesError } from './tools.js';
