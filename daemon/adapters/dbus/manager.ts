/**
 * `net.connman.Manager` on `/`: ConnMan's full method list, so introspecting clients see the
 * interface they expect. What netsessiond does not do answers NotSupported, except where a
 * different answer is what a client needs (see RegisterAgent, GetPeers).
 */
import { INTERFACES, METHODS, SIGNATURES } from '../../../lib/protocol.js';
import { NotSupportedError } from '../../core/errors.js';
import type { AdapterContext } from './context.js';
import { EMPTY, type InterfaceSpec, unsupported } from './interface-spec.js';
import { type DBusVariant, decodeDict, encodeDict, fromVariant } from './variants.js';

const M = METHODS.manager;
const S = METHODS.managerSignals;

function notYet(what: string): () => Error {
  return () => new NotSupportedError(`${what} is not supported by netsessiond`);
}

/** The Manager interface table. */
export function managerInterface(ctx: AdapterContext): InterfaceSpec {
  return {
    name: INTERFACES.manager,
    methods: {
      [M.GetProperties]: {
        in: SIGNATURES.GetProperties.in,
        out: SIGNATURES.GetProperties.out,
        outNames: ['properties'],
        handle: () => [encodeDict(ctx.api().managerProperties())],
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
            const saved = ctx.api().setManagerProperty(caller, name, raw);
            return saved instanceof Promise ? saved.then(() => EMPTY) : EMPTY;
          });
        },
      },
      [M.GetTechnologies]: {
        in: SIGNATURES.GetTechnologies.in,
        out: SIGNATURES.GetTechnologies.out,
        outNames: ['technologies'],
        handle: () => [
          ctx
            .api()
            .technologies()
            .map((t) => [t.path, encodeDict(t.props)]),
        ],
      },
      [M.GetServices]: {
        in: SIGNATURES.GetServices.in,
        out: SIGNATURES.GetServices.out,
        outNames: ['services'],
        handle: () => [
          ctx
            .api()
            .services()
            .map((s) => [s.path, encodeDict(s.props)]),
        ],
      },
      // No P2P and no tethering here: an empty list is the true answer, and what
      // `connmanctl peers` / `connmanctl tethering` can show without an error.
      GetPeers: { in: '', out: 'a(oa{sv})', outNames: ['peers'], handle: () => [[]] },
      GetTetheringClients: { in: '', out: 'as', outNames: ['tethering_clients'], handle: () => [[]] },
      // connmanctl registers an agent with `agent on` (interactive mode only) and reports an
      // error if that is refused. netsessiond never needs to ask an agent anything (no
      // passphrases, no captive-portal logins), so accepting and ignoring it is the right answer.
      RegisterAgent: { in: 'o', out: '', inNames: ['path'], handle: () => EMPTY },
      UnregisterAgent: { in: 'o', out: '', inNames: ['path'], handle: () => EMPTY },
      [M.RegisterCounter]: {
        in: SIGNATURES.RegisterCounter.in,
        out: SIGNATURES.RegisterCounter.out,
        inNames: ['path', 'accuracy', 'period'],
        handle(call) {
          const [path, accuracy, period] = call.args as [string, number, number];
          return call.withCaller((caller) => {
            ctx.api().registerCounter(caller, path, accuracy, period);
            return EMPTY;
          });
        },
      },
      [M.UnregisterCounter]: {
        in: SIGNATURES.UnregisterCounter.in,
        out: SIGNATURES.UnregisterCounter.out,
        inNames: ['path'],
        handle(call) {
          const [path] = call.args as [string];
          return call.withCaller((caller) => {
            ctx.api().unregisterCounter(caller, path);
            return EMPTY;
          });
        },
      },
      [M.CreateSession]: {
        in: SIGNATURES.CreateSession.in,
        out: SIGNATURES.CreateSession.out,
        inNames: ['settings', 'notifier'],
        outNames: ['session'],
        handle(call) {
          const [dict, notifier] = call.args as [Record<string, DBusVariant>, string];
          const settings = decodeDict(dict);
          const key = ctx.gate.hold(call.sender, notifier);
          call.afterReply(() => {
            for (const msg of ctx.gate.release(key)) ctx.emit(msg);
          });
          // Exported before the reply is written: a client may call it as soon as it has the path.
          const exported = (path: string): [string] => {
            ctx.objects.sessions.add(path);
            return [path];
          };
          const created = call.withCaller((caller) => ctx.api().createSession(caller, settings, notifier));
          return typeof created === 'string' ? exported(created) : Promise.resolve(created).then(exported);
        },
      },
      [M.DestroySession]: {
        in: SIGNATURES.DestroySession.in,
        out: SIGNATURES.DestroySession.out,
        inNames: ['session'],
        handle(call) {
          const [path] = call.args as [string];
          return call.withCaller((caller) => {
            ctx.api().destroySession(caller, path);
            return EMPTY;
          });
        },
      },
      ConnectProvider: { ...unsupported('a{sv}', 'o', notYet('ConnectProvider'), ['provider']), outNames: ['path'] },
      RemoveProvider: unsupported('o', '', notYet('RemoveProvider'), ['provider']),
      RequestPrivateNetwork: {
        ...unsupported('', 'oa{sv}h', notYet('RequestPrivateNetwork')),
        outNames: ['path', 'settings', 'socket'],
      },
      ReleasePrivateNetwork: unsupported('o', '', notYet('ReleasePrivateNetwork'), ['path']),
      RegisterPeerService: unsupported('a{sv}b', '', notYet('RegisterPeerService'), ['specification', 'master']),
      UnregisterPeerService: unsupported('a{sv}', '', notYet('UnregisterPeerService'), ['specification']),
    },
    signals: {
      [S.PropertyChanged]: { signature: SIGNATURES.PropertyChanged, names: ['name', 'value'] },
      [S.ServicesChanged]: { signature: SIGNATURES.ServicesChanged, names: ['changed', 'removed'] },
      [S.TechnologyAdded]: { signature: SIGNATURES.TechnologyAdded, names: ['path', 'properties'] },
      [S.TechnologyRemoved]: { signature: SIGNATURES.TechnologyRemoved, names: ['path'] },
      PeersChanged: { signature: 'a(oa{sv})ao', names: ['changed', 'removed'] },
      TetheringClientsChanged: { signature: 'asas', names: ['registered', 'removed'] },
    },
  };
}
