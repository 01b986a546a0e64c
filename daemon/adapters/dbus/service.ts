/**
 * `net.connman.Service` on `/net/connman/service/<id>`. Reading, Connect/Disconnect and
 * SetProperty('AutoConnect') (which the daemon answers: they act on managed links only) and
 * ResetCounters are wired; ConnMan's other configuration methods answer NotSupported.
 */
import { INTERFACES, METHODS, SIGNATURES } from '../../../lib/protocol.js';
import { NotSupportedError } from '../../core/errors.js';
import type { AdapterContext } from './context.js';
import { EMPTY, type InterfaceSpec, unsupported } from './interface-spec.js';
import { lastElement } from './objects.js';
import { type DBusVariant, encodeDict, fromVariant } from './variants.js';

const M = METHODS.service;

function notHere(what: string): () => Error {
  return () => new NotSupportedError(`${what} is not supported: netsessiond does not configure services`);
}

function replyWhenDone(done: void | Promise<void>): typeof EMPTY | Promise<typeof EMPTY> {
  return done instanceof Promise ? done.then(() => EMPTY) : EMPTY;
}

/** The Service interface table. */
export function serviceInterface(ctx: AdapterContext): InterfaceSpec {
  return {
    name: INTERFACES.service,
    methods: {
      [M.GetProperties]: {
        in: SIGNATURES.GetProperties.in,
        out: SIGNATURES.GetProperties.out,
        outNames: ['properties'],
        handle: (call) => [encodeDict(ctx.api().serviceProperties(lastElement(call.path)))],
      },
      SetProperty: {
        in: SIGNATURES.SetProperty.in,
        out: SIGNATURES.SetProperty.out,
        inNames: ['name', 'value'],
        handle(call) {
          const [name, value] = call.args as [string, DBusVariant];
          const raw = fromVariant(value);
          return call.withCaller((caller) =>
            replyWhenDone(ctx.api().setServiceProperty(caller, lastElement(call.path), name, raw)),
          );
        },
      },
      ClearProperty: unsupported('s', '', notHere('Service.ClearProperty'), ['name']),
      [M.Connect]: {
        in: '',
        out: '',
        handle: (call) =>
          call.withCaller((caller) => replyWhenDone(ctx.api().serviceConnect(caller, lastElement(call.path)))),
      },
      [M.Disconnect]: {
        in: '',
        out: '',
        handle: (call) =>
          call.withCaller((caller) => replyWhenDone(ctx.api().serviceDisconnect(caller, lastElement(call.path)))),
      },
      Remove: unsupported('', '', notHere('Service.Remove')),
      MoveBefore: {
        in: 'o',
        out: '',
        inNames: ['service'],
        handle: (call) =>
          call.withCaller((caller) =>
            replyWhenDone(ctx.api().serviceMove(caller, lastElement(call.path), call.args[0] as string, true)),
          ),
      },
      MoveAfter: {
        in: 'o',
        out: '',
        inNames: ['service'],
        handle: (call) =>
          call.withCaller((caller) =>
            replyWhenDone(ctx.api().serviceMove(caller, lastElement(call.path), call.args[0] as string, false)),
          ),
      },
      [M.ResetCounters]: {
        in: SIGNATURES.ResetCounters.in,
        out: SIGNATURES.ResetCounters.out,
        handle: (call) =>
          call.withCaller((caller) => {
            ctx.api().serviceResetCounters(caller, lastElement(call.path));
            return EMPTY;
          }),
      },
    },
    signals: {
      [METHODS.managerSignals.PropertyChanged]: { signature: SIGNATURES.PropertyChanged, names: ['name', 'value'] },
    },
  };
}
