/**
 * Wait for online, like `nm-online`: exits 0 as soon as an uplink's internet check passes,
 * 1 if none does within the timeout, 3 at once when the daemon's policy allows none of the
 * bearers asked for (waiting could never succeed).
 *
 *   node --import tsx examples/wait-for-online.ts [timeout-ms] [bearer,bearer...]
 *
 * Defaults: `$TIMEOUT` (else 30 s) and `$BEARERS` (else any). The daemon is found on the system
 * bus (`DBUS_SYSTEM_BUS_ADDRESS`).
 */
import { type BearerOption, BearersNotAllowedError, createSession, TimeoutError } from '../lib/index.js'; // in an app: from 'netsession'

const timeout = Number(process.argv[2] ?? process.env.TIMEOUT ?? 30_000);
const bearers = (process.argv[3] ?? process.env.BEARERS)?.split(',') as BearerOption[] | undefined;

await using session = await createSession({
  connectionType: 'internet',
  ...(bearers ? { allowedBearers: bearers } : {}),
});
if (session.state !== 'online') console.log(`waiting up to ${timeout} ms for an uplink to come online...`);
try {
  await session.waitFor('online', { timeout });
  console.log(`online via ${session.interface} (${session.bearer})`);
} catch (err) {
  if (err instanceof BearersNotAllowedError) {
    console.log(`never: policy ${err.policy ?? '(unnamed)'} allows none of ${err.requested.join(', ')}`);
    process.exitCode = 3;
  } else if (err instanceof TimeoutError) {
    console.log(`still offline after ${timeout} ms`);
    process.exitCode = 1;
  } else throw err;
}
