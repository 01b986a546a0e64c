/**
 * Runs the rtnetlink link source inside a network namespace (`ip netns exec NS node --import tsx
 * link-source-driver.ts '<options json>'`) and prints one JSON line per happening on stdout:
 * `{kind:'dump', t, links}` once, then `{kind:'event', t, event}` per event, `{kind:'log', msg}`.
 * `t` is CLOCK_MONOTONIC in ns (process.hrtime), comparable with the test process's clock.
 * Closing stdin stops the source; the process must then exit by itself (nothing left open),
 * and prints `{kind:'stopped'}` first.
 */
import {
  createRtnetlinkLinkSource,
  type RtnetlinkLinkSourceOptions,
} from '../../../daemon/adapters/rtnetlink/link-source.js';

const print = (o: unknown) => process.stdout.write(`${JSON.stringify(o)}\n`);
const now = () => process.hrtime.bigint().toString();

const opts = JSON.parse(process.argv[2] ?? '{}') as RtnetlinkLinkSourceOptions;
const source = createRtnetlinkLinkSource({ ...opts, log: (msg) => print({ kind: 'log', msg }) });

try {
  const links = await source.start((event) => print({ kind: 'event', t: now(), event }));
  print({ kind: 'dump', t: now(), links });
} catch (err) {
  print({ kind: 'error', msg: String(err) });
  process.exitCode = 1;
}

process.stdin.on('data', () => {});
process.stdin.on('end', () => {
  void source.stop().then(() => {
    print({ kind: 'stopped' });
    process.stdin.destroy();
  });
});
