/**
 * `net.connman.Session` on each session object. As in ConnMan: no properties, no signals;
 * settings reach the client only through Notification.Update. The api checks ownership (ConnMan
 * checks nothing here) and sends any Updates before it returns (or before its promise
 * resolves, when the Updates wait for the kernel), so they precede the reply.
 */
import { INTERFACES, METHODS, SIGNATURES } from '../../../lib/protocol.js';
import type { BusCaller } from '../../api.js';
import type { AdapterContext } from './context.js';
import { EMPTY, type InterfaceSpec, type MethodCall, type MethodSpec } from './interface-spec.js';
import { type DBusVariant, fromVariant } from './variants.js';

const M = METHODS.session;

function simple(run: (caller: BusCaller, call: MethodCall) => void | Promise<void>): MethodSpec {
  return {
    in: '',
    out: '',
    handle: (call) =>
      call.withCaller((caller) => {
        const done = run(caller, call);
        return done instanceof Promise ? done.then(() => EMPTY) : EMPTY;
      }),
  };
}

/** The Session interface table. */
export function sessionInterface(ctx: AdapterContext): InterfaceSpec {
  return {
    name: INTERFACES.session,
    methods: {
      // The api reports the end through events.sessionRemoved, which unexports the path.
      [M.Destroy]: simple((caller, call) => ctx.api().sessionDestroy(caller, call.path)),
      [M.Connect]: simple((caller, call) => ctx.api().sessionConnect(caller, call.path)),
      [M.Disconnect]: simple((caller, call) => ctx.api().sessionDisconnect(caller, call.path)),
      [M.Change]: {
        in: SIGNATURES.Change.in,
        out: SIGNATURES.Change.out,
        inNames: ['name', 'value'],
        handle(call) {
          const [name, value] = call.args as [string, DBusVariant];
          const raw = fromVariant(value);
          return call.withCaller((caller) => {
            const done = ctx.api().sessionChange(caller, call.path, name, raw);
            return done instanceof Promise ? done.then(() => EMPTY) : EMPTY;
          });
        },
      },
    },
  };
}
