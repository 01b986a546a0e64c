/**
 * The iptables + NFACCT datapath adapter (Firewall + Accounting ports), for kernels without
 * nftables (`--firewall iptables`). See backend.ts for the reconciliation, ruleset.ts for the
 * chains it builds and nfacct.ts for the counters.
 */
export { IptablesBackend, createIptablesBackend } from './backend.js';
export type { ApplyOptions, ApplyStats, IptablesBackendOptions } from './backend.js';
export { NfacctError, createNfacctClient } from './nfacct.js';
export type { NfacctClient, NfacctClientOptions, NfacctFailure, NfacctValue } from './nfacct.js';
export { IptablesError, chooseBinaries, createIptablesRunner } from './tools.js';
export type { IptablesRunner, IptablesRunnerOptions } from './tools.js';
