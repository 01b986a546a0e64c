/**
 * Uploads a file as a multipart form over one uplink with `s.fetch`, which is Node's own fetch
 * through the session: a global `Request`, `FormData` and `Blob` work as with `fetch` itself;
 * then pings the same host with Node's global `fetch` and the session's dispatcher.
 *
 *   node --import tsx examples/upload-form.ts <bearer> <upload-url>
 */
import { type Bearer, createSession } from '../lib/index.js'; // in an app: from 'netsession'

const [bearer = 'cellular', url] = process.argv.slice(2);
if (!url) {
  console.error('usage: upload-form.ts <bearer> <upload-url>');
  process.exit(2);
}
const session = await createSession({ allowedBearers: [bearer as Bearer], sourceIPRule: true });
try {
  await session.waitFor('connected', { timeout: 10_000 });
  const form = new FormData();
  form.append('device', 'demo-1');
  form.append('log', new Blob(['line 1\nline 2\n'], { type: 'text/plain' }), 'device.log');
  const upload = await session.fetch(new Request(url, { method: 'POST', body: form }));
  await upload.arrayBuffer();
  console.log(`upload: HTTP ${upload.status} via ${session.interface}`);
  const dispatcher = session.dispatcher();
  const ping = await fetch(url, { dispatcher });
  await ping.arrayBuffer();
  console.log(`ping with the global fetch: HTTP ${ping.status} via ${session.interface}`);
  await dispatcher.close();
} finally {
  await session.destroy();
}
