/**
 * A session that keeps off metered uplinks unless nothing else is up (`avoidMetered`): it prints
 * the uplink it is on at start and after every move, until interrupted. With cellular first in
 * its bearers it still takes wifi or ethernet when one is up, and leaves cellular as soon as one
 * comes back.
 *
 *   node --import tsx examples/avoid-metered.ts [bearer,bearer...]
 */
import { type BearerOption, createSession, type Session } from '../lib/index.js'; // in an app: from 'netsession'

const bearers = (process.argv[2]?.split(',') ?? ['cellular', 'wifi', 'ethernet']) as BearerOption[];
const session = await createSession({ allowedBearers: bearers, avoidMetered: true });

const show = (s: Session): void =>
  console.log(
    s.interface ? `on ${s.interface} (${s.bearer}, ${s.settings.metered ? 'metered' : 'unmetered'})` : 'no uplink',
  );
show(session);
session.on('interface', () => show(session));
process.on('SIGTERM', () => void session.destroy().then(() => process.exit(0)));
