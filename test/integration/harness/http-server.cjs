'use strict';
// The internet host's HTTP server. Runs inside the sandbox's internet namespace
// (`ip netns exec <inet> node http-server.cjs`), plain Node, no dependencies.
//
// Public side (NSH_ADDR4 / NSH_ADDR6, port NSH_PORT):
//   GET /online/status.html  answers per online mode (see MODES below)
//   anything else            200 with a body of N bytes for `?bytes=N` (default 0), after `?delay=ms`
// Every request is logged with the client's source address as the server sees it.
//
// Control side: HTTP on the unix socket NSH_CONTROL (unix sockets cross network namespaces):
//   GET /log, DELETE /log, PUT /mode {"mode": M} or {"mode": M|null, "key": K, "subnets": [[addr, prefix], ...]}
// Prints "ready" on stdout once every listener is up.

const http = require('node:http');
const net = require('node:net');
const fs = require('node:fs');

const CONTROL = required('NSH_CONTROL');
const ADDR4 = required('NSH_ADDR4');
const ADDR6 = required('NSH_ADDR6');
const PORT = Number(process.env.NSH_PORT || 80);
const ONLINE_PATH = '/online/status.html';
const MODES = ['online', 'portal', 'redirect', 'error', 'down'];
const CHUNK = Buffer.alloc(64 * 1024, 'x');
const MAX_BYTES = 1024 ** 3;

function required(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
}

let globalMode = 'online';
/** key -> { mode, list: net.BlockList } ; per-uplink overrides, matched by client subnet */
const overrides = new Map();
let log = [];

function familyOf(addr) {
  return net.isIPv6(addr) ? 'ipv6' : 'ipv4';
}

function modeFor(client) {
  for (const o of overrides.values()) if (o.list.check(client, familyOf(client))) return o.mode;
  return globalMode;
}

function sendBody(res, n, done) {
  let left = n;
  const pump = () => {
    while (left > 0) {
      const piece = left >= CHUNK.length ? CHUNK : CHUNK.subarray(0, left);
      left -= piece.length;
      if (!res.write(piece)) return void res.once('drain', pump);
    }
    res.end();
    done();
  };
  pump();
}

function respond(req, res, bytesIn) {
  const url = new URL(req.url || '/', 'http://host');
  const client = req.socket.remoteAddress || '';
  const entry = {
    time: Date.now(),
    client,
    clientPort: req.socket.remotePort,
    local: req.socket.localAddress,
    method: req.method,
    path: url.pathname,
    url: req.url,
    status: 200,
    bytes: 0,
    bytesIn,
    mode: null,
  };
  if (url.pathname === ONLINE_PATH) {
    const mode = modeFor(client);
    entry.mode = mode;
    // ConnMan's wispr code gives up on a non-empty body, so the online answer has none.
    if (mode === 'online') res.writeHead(200, { 'X-ConnMan-Status': 'online', 'Content-Length': 0 });
    else if (mode === 'redirect')
      res.writeHead((entry.status = 302), { Location: `http://${ADDR4}/portal/login`, 'Content-Length': 0 });
    else if (mode === 'error') res.writeHead((entry.status = 500), { 'Content-Length': 0 });
    else {
      // 'portal' (and a per-uplink 'down' that slipped past the connection filter)
      const body = Buffer.from('<html><body>Sign in to continue</body></html>\n');
      entry.bytes = body.length;
      log.push(entry);
      res.writeHead(200, { 'Content-Type': 'text/html', 'Content-Length': body.length });
      return void res.end(body);
    }
    log.push(entry);
    return void res.end();
  }
  const n = Math.min(Math.max(0, Number(url.searchParams.get('bytes') || 0) || 0), MAX_BYTES);
  const delay = Math.max(0, Number(url.searchParams.get('delay') || 0) || 0);
  entry.bytes = n;
  // Logged before the answer goes out, so a client that has its answer always finds the entry.
  log.push(entry);
  setTimeout(() => {
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': n });
    sendBody(res, n, () => undefined);
  }, delay);
}

function onRequest(req, res) {
  let bytesIn = 0;
  req.on('data', (c) => (bytesIn += c.length));
  req.on('end', () => respond(req, res, bytesIn));
}

function makePublic(addr) {
  const srv = http.createServer(onRequest);
  srv.keepAliveTimeout = 1000;
  // A per-uplink 'down' resets that uplink's connections; the global 'down' closes the port.
  srv.on('connection', (sock) => {
    const client = sock.remoteAddress || '';
    if (overrides.size && modeFor(client) === 'down') sock.resetAndDestroy();
  });
  return { srv, addr, listening: false };
}

const publics = [makePublic(ADDR4), makePublic(ADDR6)];

function listenAll() {
  return Promise.all(
    publics.map(
      (p) =>
        new Promise((resolve, reject) => {
          if (p.listening) return resolve();
          p.srv.once('error', reject);
          p.srv.listen({ port: PORT, host: p.addr, ipv6Only: true }, () => {
            p.srv.off('error', reject);
            p.listening = true;
            resolve();
          });
        }),
    ),
  );
}

function closeAll() {
  return Promise.all(
    publics.map(
      (p) =>
        new Promise((resolve) => {
          if (!p.listening) return resolve();
          p.listening = false;
          p.srv.close(() => resolve());
          p.srv.closeAllConnections();
        }),
    ),
  );
}

function readJson(req) {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      try {
        resolve(body ? JSON.parse(body) : {});
      } catch (e) {
        reject(e);
      }
    });
  });
}

async function setMode(body) {
  const mode = body.mode;
  if (mode !== null && !MODES.includes(mode)) throw new Error(`unknown mode ${mode}`);
  if (body.key === undefined) {
    if (mode === null) throw new Error('the global mode cannot be null');
    globalMode = mode;
    overrides.clear();
  } else if (mode === null) {
    overrides.delete(body.key);
  } else {
    const list = new net.BlockList();
    for (const [addr, prefix] of body.subnets || []) list.addSubnet(addr, prefix, familyOf(addr));
    overrides.set(body.key, { mode, list });
  }
  if (globalMode === 'down') await closeAll();
  else await listenAll();
}

const control = http.createServer(async (req, res) => {
  const reply = (status, value) => {
    const text = JSON.stringify(value);
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  };
  try {
    if (req.method === 'GET' && req.url === '/log') return reply(200, log);
    if (req.method === 'DELETE' && req.url === '/log') {
      log = [];
      return reply(200, { ok: true });
    }
    if (req.method === 'PUT' && req.url === '/mode') {
      await setMode(await readJson(req));
      return reply(200, { ok: true, mode: globalMode, overrides: [...overrides.keys()] });
    }
    if (req.method === 'GET' && req.url === '/health') return reply(200, { ok: true });
    reply(404, { error: `no ${req.method} ${req.url}` });
  } catch (e) {
    reply(400, { error: String(e?.message ? e.message : e) });
  }
});

async function main() {
  try {
    fs.unlinkSync(CONTROL);
  } catch {
    /* not there */
  }
  await new Promise((resolve, reject) => {
    control.once('error', reject);
    control.listen(CONTROL, resolve);
  });
  await listenAll();
  process.stdout.write('ready\n');
}

process.on('SIGTERM', () => process.exit(0));
main().catch((e) => {
  process.stderr.write(`http-server: ${e?.stack ? e.stack : e}\n`);
  process.exit(1);
});
