/**
 * Heartbeat over every uplink: probes a target through each uplink in parallel and prints one
 * status line per probe, plus a line when an uplink goes down or comes back.
 *
 *   node --import tsx examples/heartbeat.ts [target] [interval-ms]
 *
 * `target` is a URL (HTTP GET) or `host:port` (TCP connect); default `$TARGET`, else
 * https://example.com/. The daemon is found on the system bus (`DBUS_SYSTEM_BUS_ADDRESS`).
 * Stop it with Ctrl-C.
 */
import { monitorUplinks } from '../lib/index.js'; // in an app: from 'netsession'

const target = process.argv[2] ?? process.env.TARGET ?? 'https://example.com/';
const interval = Number(process.argv[3] ?? process.env.INTERVAL ?? 5000);

const monitor = monitorUplinks({ target, interval });

monitor.on('result', (r) => {
  const rtt = r.reachable ? `${r.rttMs?.toFixed(1)} ms` : (r.error?.message ?? 'failed');
  console.log(
    `${r.interface.padEnd(8)} ${String(r.bearer).padEnd(9)} ${r.reachable ? 'ok  ' : 'FAIL'} ${rtt.padEnd(24)} loss ${(r.lossRatio * 100).toFixed(0)}%`,
  );
});
monitor.on('up', (r) => console.log(`UP ${r.interface} (from ${r.address})`));
monitor.on('down', (r) => console.log(`DOWN ${r.interface}: ${r.error?.message}`));
monitor.on('error', (err) => console.error(`monitor: ${err.message}`));

for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void monitor.close());
