'use strict';
// Extra listeners on the sandbox's internet host for the bind-helper tests (started with
// `ip netns exec <inet> node inet-listeners.cjs '<json>'`), plain Node, no dependencies:
//   - HTTPS on addr:tlsPort (cert/key files given), answering {"client": "<source address>"};
//   - plain HTTP on addr:httpPort with a 60 s keep-alive, answering the same;
//   - UDP on addr:udpPort, answering nothing.
// Every connection, request and datagram is printed as one JSON line on stdout with the client's
// source address ({"kind":"tls"|"https"|"http"|"udp","client":...}); "ready" once both listen.
// Input: {"addr": string, "tlsPort": number, "httpPort": number, "udpPort": number, "cert"?: path, "key"?: path}

const dgram = require('node:dgram');
const fs = require('node:fs');
const http = require('node:http');
const https = require('node:https');
const net = require('node:net');

const opts = JSON.parse(process.argv[2] || '{}');
const log = (entry) => process.stdout.write(`${JSON.stringify(entry)}\n`);
const waits = [];

if (opts.cert && opts.key) {
  const srv = https.createServer({ cert: fs.readFileSync(opts.cert), key: fs.readFileSync(opts.key) }, (req, res) => {
    const client = req.socket.remoteAddress;
    log({ kind: 'https', client, url: req.url });
    res.end(JSON.stringify({ client }));
  });
  srv.keepAliveTimeout = 60_000;
  srv.on('secureConnection', (sock) => log({ kind: 'tls', client: sock.remoteAddress }));
  waits.push(new Promise((resolve) => srv.listen({ host: opts.addr, port: opts.tlsPort }, resolve)));
}

// Plain HTTP with a long keep-alive (the harness's server has 1 s, which makes clients drop
// their connections after each response): for tests of what happens to pooled connections.
const plain = http.createServer((req, res) => {
  const client = req.socket.remoteAddress;
  log({ kind: 'http', client, url: req.url });
  res.end(JSON.stringify({ client }));
});
plain.keepAliveTimeout = 60_000;
waits.push(new Promise((resolve) => plain.listen({ host: opts.addr, port: opts.httpPort }, resolve)));

const udp = dgram.createSocket(net.isIPv6(opts.addr) ? 'udp6' : 'udp4');
udp.on('message', (msg, rinfo) => log({ kind: 'udp', client: rinfo.address, bytes: msg.length }));
waits.push(new Promise((resolve) => udp.bind({ address: opts.addr, port: opts.udpPort }, resolve)));

Promise.all(waits).then(() => log('ready'));
process.on('SIGTERM', () => process.exit(0));
