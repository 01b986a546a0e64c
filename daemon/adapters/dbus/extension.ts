/**
 * Our own interfaces, on the same objects as ConnMan's (ConnMan's messages never change):
 * `org.netsession.Manager1` on `/`, `org.netsession.Service1` on each service and
 * `org.netsession.Session1` on each session.
 */
import {
  errorName,
  NETSESSION_INTERFACE,
  NETSESSION_MANAGER_INTERFACE,
  NETSESSION_METHODS,
  NETSESSION_SERVICE_INTERFACE,
  NETSESSION_SIGNATURES,
} from '../../../lib/protocol.js';
import { statisticsProps } from '../../core/statistics-schedule.js';
import type { AdapterContext } from './context.js';
import { BusReplyError } from './errors.js';
import { EMPTY, type InterfaceSpec } from './interface-spec.js';
import { lastElement } from './objects.js';
import { encodeDict } from './variants.js';

const SIG = NETSESSION_SIGNATURES;

/** `org.netsession.Manager1`. */
export function managerExtension(ctx: AdapterContext): InterfaceSpec {
  const M = NETSESSION_METHODS.manager;
  return {
    name: NETSESSION_MANAGER_INTERFACE,
    methods: {
      [M.ListSessions]: {
        in: SIG.ListSessions.in,
        out: SIG.ListSessions.out,
        outNames: ['sessions'],
        // Root only; the api enforces it (the bus policy lets everyone ask).
        handle: (call) =>
          Promise.resolve(call.withCaller((caller) => ctx.api().listSessions(caller))).then((list) => [
            list.map((s) => [s.path, encodeDict(s.props)]),
          ]),
      },
      [M.GetCapabilities]: {
        in: SIG.GetCapabilities.in,
        out: SIG.GetCapabilities.out,
        outNames: ['capabilities'],
        handle: () => {
          const caps = ctx.api().capabilities();
          return [ctx.peerAddress() === null ? caps : [...caps, 'PeerSocket']];
        },
      },
      [M.GetPeerAddress]: {
        in: SIG.GetPeerAddress.in,
        out: SIG.GetPeerAddress.out,
        outNames: ['address'],
        handle: () => {
          const address = ctx.peerAddress();
          if (address === null)
            throw new BusReplyError({ name: errorName('NotSupported'), message: 'this daemon has no private socket' });
          return [address];
        },
      },
      [M.GetServiceStatus]: {
        in: SIG.GetServiceStatus.in,
        out: SIG.GetServiceStatus.out,
        outNames: ['services'],
        handle: () => [
          ctx
            .api()
            .serviceStatus()
            .map((s) => [s.path, encodeDict(s.props)]),
        ],
      },
      [M.GetDefaultRoutes]: {
        in: SIG.GetDefaultRoutes.in,
        out: SIG.GetDefaultRoutes.out,
        outNames: ['routes'],
        handle: () => [ctx.api().defaultRoutes().map(encodeDict)],
      },
    },
    signals: {
      [NETSESSION_METHODS.managerSignals.ServiceStatusChanged]: {
        signature: SIG.ServiceStatusChanged,
        names: ['services'],
      },
    },
  };
}

/** `org.netsession.Service1`: what ConnMan's Service dict has no key for (captive portals). */
export function serviceExtension(ctx: AdapterContext): InterfaceSpec {
  const M = NETSESSION_METHODS.service;
  return {
    name: NETSESSION_SERVICE_INTERFACE,
    methods: {
      [M.GetOnlineCheck]: {
        in: SIG.GetOnlineCheck.in,
        out: SIG.GetOnlineCheck.out,
        outNames: ['families'],
        handle: (call) => [encodeDict(ctx.api().serviceOnlineCheck(lastElement(call.path)))],
      },
    },
  };
}

/** `org.netsession.Session1`. */
export function sessionExtension(ctx: AdapterContext): InterfaceSpec {
  const M = NETSESSION_METHODS.session;
  return {
    name: NETSESSION_INTERFACE,
    methods: {
      [M.GetStatistics]: {
        in: SIG.GetStatistics.in,
        out: SIG.GetStatistics.out,
        outNames: ['statistics'],
        handle: (call) =>
          Promise.resolve(call.withCaller((caller) => ctx.api().statistics(caller, call.path))).then((s) => [
            encodeDict(statisticsProps(s)),
          ]),
      },
      [M.ResetStatistics]: {
        in: SIG.ResetStatistics.in,
        out: SIG.ResetStatistics.out,
        handle: (call) =>
          Promise.resolve(call.withCaller((caller) => ctx.api().resetStatistics(caller, call.path))).then(() => EMPTY),
      },
      [M.ClaimCgroup]: {
        in: SIG.ClaimCgroup.in,
        out: SIG.ClaimCgroup.out,
        inNames: ['cgroup'],
        // The reply waits until the kernel classifies the cgroup's traffic.
        handle: (call) =>
          Promise.resolve(
            call.withCaller((caller) => ctx.api().claimCgroup(caller, call.path, call.args[0] as string)),
          ).then(() => EMPTY),
      },
      [M.SetStatisticsInterval]: {
        in: SIG.SetStatisticsInterval.in,
        out: SIG.SetStatisticsInterval.out,
        inNames: ['seconds'],
        // The reply leaves in a microtask; the first signal waits for a timer, so it comes after.
        handle: (call) =>
          Promise.resolve(
            call.withCaller((caller) => ctx.api().setStatisticsInterval(caller, call.path, call.args[0] as number)),
          ).then(() => EMPTY),
      },
      [M.GetPolicy]: {
        in: SIG.GetPolicy.in,
        out: SIG.GetPolicy.out,
        outNames: ['policy'],
        handle: (call) => call.withCaller((caller) => [encodeDict(ctx.api().sessionPolicy(caller, call.path))]),
      },
    },
    signals: {
      [NETSESSION_METHODS.sessionSignals.Statistics]: { signature: SIG.Statistics, names: ['statistics'] },
    },
  };
}
