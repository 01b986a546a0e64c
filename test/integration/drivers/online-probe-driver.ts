/**
 * Runs one online-check probe and prints the result as one JSON line. Used by
 * test/integration/online-probe.test.ts inside a device namespace:
 *   ip netns exec <ns> node --import tsx test/integration/drivers/online-probe-driver.ts '<json>'
 * where <json> is { request: OnlineCheckRequest, connectTimeoutMs?: number, replyTimeoutMs?: number }.
 */
import { HttpProbe } from '../../../daemon/adapters/online-check/http-probe.js';
import type { OnlineCheckRequest } from '../../../daemon/ports.js';

interface Args {
  request: OnlineCheckRequest;
  connectTimeoutMs?: number;
  replyTimeoutMs?: number;
}

const args = JSON.parse(process.argv[2] ?? '{}') as Args;
const probe = new HttpProbe({
  connectTimeoutMs: args.connectTimeoutMs ?? 0,
  ...(args.replyTimeoutMs === undefined ? {} : { replyTimeoutMs: args.replyTimeoutMs }),
});
const result = await probe.probe(args.request, new AbortController().signal);
process.stdout.write(`${JSON.stringify(result)}\n`);
