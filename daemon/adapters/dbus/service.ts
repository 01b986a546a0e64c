/**
 * `net.connman.Service` on `/net/connman/service/<id>`. netsessiond observes links configured by
 * other tools, so only reading, Connect/Disconnect (which the daemon answers) and ResetCounters
 * are wired; ConnMan's configuration methods answer NotSupported.
 */
import { INTERFACES, METHODS, SIGNATURES } from '../../../lib/protocol.js';
import { NotSupportedError } from '../../core/errors.js';
import type { AdapterContext } from './context.js';
import { EMPTY, unsupported, type InterfaceSpec } from './interface-spec.js';
import { lastElement } from './objects.js';
import { encodeDict } from './variants.js';

const M = METHODS.service;

function notHere(what: string): () => Error {
  return () => new NotSupportedError(`${what} is not supported: netsessiond does not configure services`);
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
      SetProperty: unsupported(SIGNATURES.SetProperty.in, SIGNATURES.SetProperty.out, notHere('Service.SetProperty'), ['name', 'value']),
      ClearProperty: unsupported('s', '', notHere('Service.ClearProperty'), ['name']),
      [M.Connect]: {
        in: '',
        out: '',
        handle: (call) =>
          call.withCaller((caller) => {
            ctx.api().serviceConnect(caller, lastElement(call.path));
            return EMPTY;
          }),
      },
      [M.Disconnect]: {
        in: '',
        out: '',
        handle: (call) =>
          call.withCaller((caller) => {
            ctx.api().serviceDisconnect(caller, lastElement(call.path));
            return EMPTY;
          }),
      },
      Remove: unsupported('', '', notHere('Service.Remove')),
      MoveBefore: unsupported('o', '', notHere('Service.MoveBefore'), ['service']),
      MoveAfter: unsupported('o', '', notHere('Service.MoveAfter'), ['service']),
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
