// A ConnMan session client meant to run as another uid (plain CommonJS: no TypeScript loader
// has to work for that user). Names come from the test in argv[2] (JSON), so lib/protocol.ts
// stays the only place they are spelled. Reports one JSON object per line on stdout; reads
// commands from stdin: "destroy <path>", "list", "exit".
'use strict';
const dbus = require('dbus-next');
const readline = require('node:readline');

const cfg = JSON.parse(process.argv[2]);
const { Message, Variant, MessageFlag } = dbus;
const bus = dbus.sessionBus({ busAddress: cfg.address });
const out = (o) =>
  process.stdout.write(`${JSON.stringify(o, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))}\n`);

bus.on('error', (e) => out({ ev: 'error', message: String(e?.message || e) }));

bus.addMethodHandler((m) => {
  if (m.path !== cfg.notifier || m.interface !== cfg.notificationInterface) return false;
  const dict = m.body[0] || {};
  out({
    ev: m.member,
    signature: m.signature,
    noReply: Boolean(m.flags & MessageFlag.NO_REPLY_EXPECTED),
    keys: Object.keys(dict),
    state: dict.State ? dict.State.value : undefined,
  });
  return true; // no reply: the daemon asked for none
});

function callManager(iface, member, signature, body) {
  return bus.call(new Message({ destination: cfg.busName, path: '/', interface: iface, member, signature, body }));
}

async function report(ev, promise) {
  try {
    const r = await promise;
    out({ ev, ok: true, body: r ? r.body : null });
  } catch (e) {
    out({ ev, ok: false, name: e.type, message: e.text });
  }
}

bus.on('connect', async () => {
  out({ ev: 'ready', name: bus.name, uid: process.getuid(), pid: process.pid });
  await report(
    'created',
    callManager(cfg.managerInterface, cfg.createSession, 'a{sv}o', [
      { AllowedBearers: new Variant('as', ['ethernet']) },
      cfg.notifier,
    ]),
  );
  const rl = readline.createInterface({ input: process.stdin });
  rl.on('line', async (line) => {
    const [cmd, arg] = line.trim().split(/\s+/);
    if (cmd === 'destroy') await report('destroyed', callManager(cfg.managerInterface, cfg.destroySession, 'o', [arg]));
    else if (cmd === 'list') await report('listed', callManager(cfg.extensionInterface, cfg.listSessions, '', []));
    else if (cmd === 'exit') {
      bus.disconnect();
      process.exit(0);
    }
  });
  rl.on('close', () => process.exit(0));
});
