// A ConnMan session client that runs as another uid (or in another cgroup) and keeps its
// sessions open until told otherwise: the daemon classifies traffic by the identity of the
// process that created the session, so the creator has to be that process. Plain CommonJS so
// no TypeScript loader has to work for that user.
//
// argv[2] (JSON): { address, control, busName, managerInterface, sessionInterface,
// notificationInterface, extensionInterface } (names come from lib/protocol.ts via the test).
// `control` is a unix socket the test listens on (the harness starts processes with stdin
// closed); the holder connects to it, reads requests and writes events there.
// Requests, one JSON object per line: { id, op: 'create', notifier, settings: { Key: [sig, value] } },
// { id, op: 'change', path, key, sig, value }, { id, op: 'destroy', path }, { id, op: 'stats', path },
// { id, op: 'exit' }.
// Events, one JSON object per line: { ev: 'ready', uid, gid, pid }, { ev: 'reply', id, ok, body | name,
// message }, { ev: 'update', notifier, values }, { ev: 'release', notifier }. Bigints become strings.
'use strict';
const dbus = require('dbus-next');
const net = require('node:net');
const readline = require('node:readline');

const cfg = JSON.parse(process.argv[2]);
const { Message, Variant, MessageFlag } = dbus;
const bus = dbus.sessionBus({ busAddress: cfg.address });
const control = net.connect(cfg.control);
control.on('error', () => process.exit(1));
control.on('close', () => process.exit(0));
const out = (o) => control.write(`${JSON.stringify(o, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))}\n`);

function unwrap(v) {
  if (v instanceof Variant) return unwrap(v.value);
  if (Array.isArray(v)) return v.map(unwrap);
  if (v && typeof v === 'object' && !Buffer.isBuffer(v))
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, unwrap(x)]));
  return v;
}

bus.on('error', (e) => out({ ev: 'error', message: String(e?.message || e) }));

bus.addMethodHandler((m) => {
  if (m.interface !== cfg.notificationInterface || !m.path) return false;
  if (m.member === 'Update') out({ ev: 'update', notifier: m.path, values: unwrap(m.body[0] || {}) });
  else if (m.member === 'Release') out({ ev: 'release', notifier: m.path });
  else return false;
  if (!(m.flags & MessageFlag.NO_REPLY_EXPECTED)) bus.send(Message.newMethodReturn(m, '', []));
  return true;
});

function call(path, iface, member, signature, body) {
  return bus.call(new Message({ destination: cfg.busName, path, interface: iface, member, signature, body }));
}

function request(req) {
  switch (req.op) {
    case 'create': {
      const settings = {};
      for (const [k, [sig, value]] of Object.entries(req.settings || {})) settings[k] = new Variant(sig, value);
      return call('/', cfg.managerInterface, 'CreateSession', 'a{sv}o', [settings, req.notifier]);
    }
    case 'change':
      return call(req.path, cfg.sessionInterface, 'Change', 'sv', [req.key, new Variant(req.sig, req.value)]);
    case 'destroy':
      return call(req.path, cfg.sessionInterface, 'Destroy', '', []);
    case 'stats':
      return call(req.path, cfg.extensionInterface, 'GetStatistics', '', []);
    default:
      return Promise.reject(Object.assign(new Error(`unknown op ${req.op}`), { type: 'holder.UnknownOp' }));
  }
}

bus.on('connect', () => {
  out({ ev: 'ready', uid: process.getuid(), gid: process.getgid(), pid: process.pid });
  const rl = readline.createInterface({ input: control });
  rl.on('line', async (line) => {
    const req = JSON.parse(line);
    if (req.op === 'exit') {
      bus.disconnect();
      process.exit(0);
    }
    try {
      const r = await request(req);
      out({ ev: 'reply', id: req.id, ok: true, body: r ? unwrap(r.body) : null });
    } catch (e) {
      out({ ev: 'reply', id: req.id, ok: false, name: e.type || 'error', message: e.text || e.message });
    }
  });
});
