/** `net.connman.Technology` on `/net/connman/technology/<type>`. */
import { INTERFACES, METHODS, SIGNATURES } from '../../../lib/protocol.js';
import { NotSupportedError } from '../../core/errors.js';
import type { AdapterContext } from './context.js';
import { EMPTY, type InterfaceSpec, unsupported } from './interface-spec.js';
import { lastElement } from './objects.js';
import { type DBusVariant, encodeDict, fromVariant } from './variants.js';

const M = METHODS.technology;

/** The Technology interface table. */
export function technologyInterface(ctx: AdapterContext): InterfaceSpec {
  return {
    name: INTERFACES.technology,
    methods: {
      [M.GetProperties]: {
        in: SIGNATURES.GetProperties.in,
        out: SIGNATURES.GetProperties.out,
        outNames: ['properties'],
        handle: (call) => [encodeDict(ctx.api().technologyProperties(lastElement(call.path)))],
      },
      [M.SetProperty]: {
        in: SIGNATURES.SetProperty.in,
        out: SIGNATURES.SetProperty.out,
        inNames: ['name', 'value'],
        handle(call) {
          const [name, value] = call.args as [string, DBusVariant];
          const raw = fromVariant(value);
          return call.withCaller((caller) => {
            // A promise means: reply once the setting is on disk (it survives a crash after the reply).
            const saved = ctx.api().setTechnologyProperty(caller, lastElement(call.path), name, raw);
            return saved instanceof Promise ? saved.then(() => EMPTY) : EMPTY;
          });
        },
      },
      // ConnMan answers NotSupported for Scan on every technology but wifi (and p2p).
      Scan: unsupported('', '', () => new NotSupportedError('Scan is not supported on this technology')),
    },
    signals: {
      [METHODS.managerSignals.PropertyChanged]: { signature: SIGNATURES.PropertyChanged, names: ['name', 'value'] },
    },
  };
}
