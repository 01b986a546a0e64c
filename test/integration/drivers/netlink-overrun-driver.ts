/**
 * Provokes a receive overrun (ENOBUFS) on the daemon's NETLINK_NETFILTER request socket, inside a
 * network namespace (`ip netns exec NS node --import tsx netlink-overrun-driver.ts TABLE`): a
 * socket with the smallest receive buffer asks for one counter 2,000 times in one send, so the
 * replies cannot all be queued. Prints one JSON line: what the overrun looked like, and whether
 * the same socket then still reads the counter.
 * The table `inet TABLE` with counter `c` must exist.
 */
import { NetlinkOverrunError } from '../../../daemon/adapters/netlink/request-socket.js';
import { openNftNetlink } from '../../../daemon/adapters/nftables/netlink-client.js';

const table = process.argv[2] ?? 'overrun';
const { client, socket } = await openNftNetlink(table, { rcvbuf: 1 });
let overrun: { name: string; message: string } | null = null;
try {
  client.getCounters(Array.from({ length: 2000 }, () => 'c'));
} catch (err) {
  if (!(err instanceof NetlinkOverrunError)) throw err;
  overrun = { name: err.name, message: err.message };
}
const after = client.getCounters(['c']).map((c) => ({ name: c.name, packets: String(c.packets) }));
socket.close();
process.stdout.write(`${JSON.stringify({ overrun, after, alive: true })}\n`);
