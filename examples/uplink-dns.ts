/**
 * Per-network DNS: resolves a URL's host through one uplink's own DNS servers (from the
 * session's address) and fetches it over that uplink — a name only that network's DNS knows
 * (a carrier's internal service, a site's intranet) works, as with Android's
 * `Network.getAllByName`. Exits 1 when the name does not resolve there.
 *
 *   node --import tsx examples/uplink-dns.ts <bearer|interface> <url>
 *   node --import tsx examples/uplink-dns.ts cellular http://portal.carrier.internal/balance
 */
import { BEARERS, type Bearer, createSession } from '../lib/index.js'; // in an app: from 'netsession'

const [which = 'cellular', url] = process.argv.slice(2);
if (!url) {
  console.error('usage: uplink-dns.ts <bearer|interface> <url>');
  process.exit(2);
}
const pin = (BEARERS as readonly string[]).includes(which)
  ? { allowedBearers: [which as Bearer] }
  : { allowedInterface: which };

// The plain form of `await using` (which needs TypeScript >= 5.2 or Node >= 24).
const session = await createSession({ ...pin, sourceIPRule: true });
try {
  await session.waitFor('connected', { timeout: 10_000 });
  const servers = session.settings.nameservers;
  console.log(
    `uplink ${session.interface}, nameservers ${servers.length ? servers.join(' ') : '(none: the system resolver)'}`,
  );
  const host = new URL(url).hostname;
  const addresses = await session
    .resolver({ timeout: 1_000, tries: 2 })
    .resolve4(host)
    .catch((err: NodeJS.ErrnoException) => err);
  if (addresses instanceof Error) {
    console.log(`cannot resolve ${host} on ${session.interface}: ${addresses.code ?? addresses.message}`);
    process.exitCode = 1;
  } else {
    console.log(`resolved ${host}: ${addresses.join(' ')}`);
    // fetch resolves the same way (every bind helper does), then leaves by the same uplink.
    const res = await session.fetch(url);
    await res.arrayBuffer();
    console.log(`HTTP ${res.status} via ${session.interface} from ${session.ipv4?.address}`);
  }
} finally {
  await session.destroy();
}
