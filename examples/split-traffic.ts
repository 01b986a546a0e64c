/**
 * Split traffic: a sensitive request goes over the cellular link only, while a bulk download
 * runs over wifi (or ethernet) at the same time — one session each, and each session's
 * `fetch` leaves through its own uplink.
 *
 *   node --import tsx examples/split-traffic.ts [sensitive-url] [bulk-url]
 *
 * Defaults: `$SENSITIVE_URL` and `$BULK_URL`. The daemon is found on the system bus
 * (`DBUS_SYSTEM_BUS_ADDRESS`).
 */
import { createSession } from '../lib/index.js'; // in an app: from 'netsession'

const sensitiveUrl = process.argv[2] ?? process.env.SENSITIVE_URL ?? 'https://example.com/api/transfer';
const bulkUrl = process.argv[3] ?? process.env.BULK_URL ?? 'https://example.com/big-file.iso';

// sourceIPRule: sockets bound to a session's address leave through that session's uplink.
await using sensitive = await createSession({
  allowedBearers: ['cellular'],
  connectionType: 'internet',
  sourceIPRule: true,
});
await using bulk = await createSession({
  allowedBearers: ['wifi', 'ethernet'],
  connectionType: 'internet',
  sourceIPRule: true,
});
await Promise.all([sensitive.waitFor('online', { timeout: 10_000 }), bulk.waitFor('online', { timeout: 10_000 })]);

const [answer, download] = await Promise.all([
  sensitive.fetch(sensitiveUrl, { method: 'POST', body: JSON.stringify({ amount: 42 }) }),
  bulk.fetch(bulkUrl),
]);
let bytes = 0;
for await (const chunk of download.body!) bytes += chunk.length;
await answer.arrayBuffer();

console.log(`sensitive: HTTP ${answer.status} via ${sensitive.interface} from ${sensitive.ipv4?.address}`);
console.log(`bulk: ${bytes} bytes via ${bulk.interface} from ${bulk.ipv4?.address}`);
