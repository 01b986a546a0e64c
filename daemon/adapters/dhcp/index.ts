/** DHCPv4 client adapters, report-only: the daemon's own (default) and busybox udhcpc. */

export type { BackoffOptions } from './backoff.js';
export { DEFAULT_BACKOFF, nextFailureCount, restartDelayMs } from './backoff.js';
export type { HookRecord, Lease } from './hook-records.js';
export { HookRecordSplitter, LeaseTracker, leaseOfRecord, prefixOfNetmask } from './hook-records.js';
export type { InternalDhcpOptions } from './internal-client.js';
export { InternalDhcpClient } from './internal-client.js';
export { PacketSocket } from './packet-socket.js';
export type { UdhcpcOptions } from './udhcpc-client.js';
export { UDHCPC_HOOK, UdhcpcClient } from './udhcpc-client.js';
