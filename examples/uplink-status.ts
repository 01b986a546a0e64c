/**
 * Follows the uplink of a session: prints its metered, roaming and captive-portal state (and the
 * portal's URL) at start and each time one changes, until interrupted — what an app shows as
 * "sign in to the network" or uses to postpone a big download on a metered link.
 *
 *   node --import tsx examples/uplink-status.ts [bearer,bearer...]
 */
import { type BearerOption, createSession, type Session } from '../lib/index.js'; // in an app: from 'netsession'

const bearers = process.argv[2]?.split(',') as BearerOption[] | undefined;
const session = await createSession(bearers ? { allowedBearers: bearers } : {});

function show(s: Session, why: string): void {
  const { interface: iface, metered, roaming, captivePortal, portalUrl } = s.settings;
  const yesNo = (v: boolean | null, word: string) => (v === null ? `${word}?` : v ? word : `not ${word}`);
  const portal = captivePortal ? `captive portal ${portalUrl ?? '(no URL)'}` : yesNo(captivePortal, 'captive portal');
  console.log(`${why}: ${iface ?? 'no uplink'}: ${yesNo(metered, 'metered')}, ${yesNo(roaming, 'roaming')}, ${portal}`);
}

show(session, 'start');
session.on('captivePortal', () => show(session, 'portal'));
session.on('metered', () => show(session, 'metered'));
session.on('interface', () => show(session, 'moved'));
process.on('SIGTERM', () => void session.destroy().then(() => process.exit(0)));
