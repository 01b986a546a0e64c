/**
 * A fetch loop that survives a daemon restart without any code for it: the session is
 * `persistent`, so when netsessiond (or connmand) goes away it waits for it, is made again with
 * the same settings, and the loop's `s.fetch` works again. Prints one line per request and one
 * per daemon event, until interrupted.
 *
 *   node --import tsx examples/persistent-fetch.ts <bearer> <url> [interval-ms]
 */
import { type Bearer, createSession } from '../lib/index.js'; // in an app: from 'netsession'

const [bearer = 'cellular', url, interval = '200'] = process.argv.slice(2);
if (!url) {
  console.error('usage: persistent-fetch.ts <bearer> <url> [interval-ms]');
  process.exit(2);
}
const stop = new AbortController();
const session = await createSession({
  allowedBearers: [bearer as Bearer],
  sourceIPRule: true,
  persistent: { signal: stop.signal },
});
session.on('daemon-lost', (err) => console.log(`daemon lost (${err.code})`));
session.on('daemon-restored', () => console.log(`daemon back: ${session.state} via ${session.interface}`));
session.on('online', () => console.log(`online via ${session.interface} (${session.bearer})`));
process.on('SIGTERM', () => {
  stop.abort();
  void session.destroy().then(() => process.exit(0));
});

for (let n = 1; !session.destroyed; n++) {
  try {
    const res = await session.fetch(`${url}${url.includes('?') ? '&' : '?'}n=${n}`, {
      signal: AbortSignal.timeout(2_000),
    });
    await res.arrayBuffer();
    console.log(`#${n} HTTP ${res.status} via ${session.interface}`);
  } catch (err) {
    console.log(`#${n} failed: ${(err as { code?: string }).code ?? (err as Error).name}`);
  }
  await new Promise((r) => setTimeout(r, Number(interval)));
}
