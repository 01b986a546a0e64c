/**
 * The answer every D-Bus connection owes on any path: org.freedesktop.DBus.Peer's Ping and
 * GetMachineId, and UnknownMethod for a call nobody claimed. Reads the machine id once.
 */
import { readFileSync } from 'node:fs';
import { Message } from './message.js';

let machineId: string | null = null;

function readMachineId(): string {
  if (machineId !== null) return machineId;
  for (const p of ['/etc/machine-id', '/var/lib/dbus/machine-id']) {
    try {
      machineId = readFileSync(p, 'utf8').trim();
      return machineId;
    } catch {
      // try the next
    }
  }
  machineId = '';
  return machineId;
}

/** The reply to `msg`, a call no handler claimed: Peer's answers, or an UnknownMethod error. */
export function peerReply(msg: Message): Message {
  if (msg.interface === 'org.freedesktop.DBus.Peer' || msg.interface === '') {
    if (msg.member === 'Ping' && msg.signature === '') return Message.newMethodReturn(msg);
    if (msg.member === 'GetMachineId' && msg.signature === '') {
      return Message.newMethodReturn(msg, 's', [readMachineId()]);
    }
  }
  return Message.newError(
    msg,
    'org.freedesktop.DBus.Error.UnknownMethod',
    `Method '${msg.member}' on interface '${msg.interface || '(none)'}' does not exist`,
  );
}
