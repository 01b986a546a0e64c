'use strict';
// One HTTP request from inside a namespace (`ip netns exec <ns> node http-probe.cjs '<json>'`):
// Node cannot enter a network namespace itself. Prints one JSON line and always exits 0:
//   {"ok":true,"status":200,"headers":{...},"bytes":N,"localAddress":"...","localPort":N,"remoteAddress":"..."}
//   {"ok":false,"error":"ETIMEDOUT"|"ECONNREFUSED"|...,"message":"...","localAddress":...}
// Input: {"url": string, "localAddress"?: string, "method"?: string, "timeoutMs"?: number,
//         "bodyBytes"?: number, "headers"?: object}

const http = require('node:http');

const opts = JSON.parse(process.argv[2] || '{}');
const url = new URL(opts.url);
const timeoutMs = opts.timeoutMs || 5000;
const bodyBytes = opts.bodyBytes || 0;
let local = {};
let finished = false;

function finish(result) {
  if (finished) return;
  finished = true;
  process.stdout.write(`${JSON.stringify({ ...result, ...local })}\n`);
  process.exit(0);
}

const req = http.request({
  host: url.hostname.replace(/^\[|\]$/g, ''),
  port: url.port || 80,
  path: `${url.pathname}${url.search}`,
  method: opts.method || (bodyBytes ? 'POST' : 'GET'),
  localAddress: opts.localAddress,
  headers: { ...(opts.headers || {}), ...(bodyBytes ? { 'Content-Length': bodyBytes } : {}) },
  agent: false,
});
req.on('socket', (sock) =>
  sock.on('connect', () => {
    local = { localAddress: sock.localAddress, localPort: sock.localPort, remoteAddress: sock.remoteAddress };
  }),
);
const timer = setTimeout(() => {
  const err = new Error(`no answer within ${timeoutMs} ms`);
  err.code = 'ETIMEDOUT';
  req.destroy(err);
}, timeoutMs);
req.on('error', (err) => finish({ ok: false, error: err.code || 'ERROR', message: err.message }));
req.on('response', (res) => {
  let bytes = 0;
  res.on('data', (c) => (bytes += c.length));
  res.on('end', () => {
    clearTimeout(timer);
    finish({ ok: true, status: res.statusCode, headers: res.headers, bytes });
  });
  res.on('error', (err) => finish({ ok: false, error: err.code || 'ERROR', message: err.message }));
});
if (bodyBytes) {
  const chunk = Buffer.alloc(Math.min(bodyBytes, 64 * 1024), 'y');
  let left = bodyBytes;
  const pump = () => {
    while (left > 0) {
      const piece = left >= chunk.length ? chunk : chunk.subarray(0, left);
      left -= piece.length;
      if (!req.write(piece)) return void req.once('drain', pump);
    }
    req.end();
  };
  pump();
} else {
  req.end();
}
