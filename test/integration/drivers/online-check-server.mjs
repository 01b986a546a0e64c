// A stand-in for ConnMan's check server (ipv4.connman.net): answers every GET with 200 and
// X-ConnMan-Status, and logs each request's client address as one JSON line on stdout.
// Usage: node online-check-server.mjs <address> <port>
import http from 'node:http';

const [address = '0.0.0.0', port = '80'] = process.argv.slice(2);
const server = http.createServer((req, res) => {
  const line = { client: req.socket.remoteAddress, userAgent: req.headers['user-agent'] ?? null, path: req.url };
  process.stdout.write(`${JSON.stringify(line)}\n`);
  res.writeHead(200, { 'X-ConnMan-Status': 'online', 'Content-Length': '0' });
  res.end();
});
server.listen(Number(port), address, () =>
  process.stdout.write(`${JSON.stringify({ listening: `${address}:${port}` })}\n`),
);
process.on('SIGTERM', () => server.close(() => process.exit(0)));
