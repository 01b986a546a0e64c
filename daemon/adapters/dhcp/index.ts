/** DHCPv4 client adapter (busybox udhcpc, report-only). */
export { UDHCPC_HOOK, UdhcpcClient } from './udhcpc-client.js';
export type { UdhcpcOptions } from './udhcpc-client.js';
export { DEFAULT_BACKOFF, nextFailureCount, restartDelayMs } from './backoff.js';
export type { BackoffOptions } from './backoff.js';
export { HookRecordSplitter, LeaseTracker, leaseOfRecord, prefixOfNetmask } from './hook-records.js';
export type { HookRecord, Lease } from './hook-records.js';
