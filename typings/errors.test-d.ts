import {
  AbortError,
  type Bearer,
  BearersNotAllowedError,
  DaemonUnavailableError,
  type DaemonUnavailableReason,
  ExtensionNotSupportedError,
  InvalidOptionError,
  type NetsessionError,
  NotConnectedError,
  NotSupportedError,
  ProbeFailedError,
  ProtocolError,
  SessionClosedError,
  type SessionClosedReason,
  TimeoutError,
} from 'netsession';
import { expectAssignable, expectError, expectType } from 'tsd';

// Every SDK-side error has a literal code and shares the base class.
expectType<'NS_ERR_SESSION_CLOSED'>(new SessionClosedError('destroyed').code);
expectType<'NS_ERR_TIMEOUT'>(new TimeoutError('m', 5).code);
expectType<'NS_ERR_ABORTED'>(new AbortError().code);
expectType<'NS_ERR_DAEMON_UNAVAILABLE'>(new DaemonUnavailableError('no-daemon', 'm').code);
expectType<'NS_ERR_EXTENSION_NOT_SUPPORTED'>(new ExtensionNotSupportedError('Statistics').code);
expectType<'NS_ERR_NOT_CONNECTED'>(new NotConnectedError('m').code);
expectType<'NS_ERR_PROTOCOL'>(new ProtocolError('m').code);
// The daemon's NotSupported reply and a missing extension are different classes and codes.
expectType<'NS_ERR_NOT_SUPPORTED'>(new NotSupportedError('m', 'net.connman.Error.NotSupported').code);
expectAssignable<NetsessionError>(new ExtensionNotSupportedError('Statistics'));
expectAssignable<NetsessionError>(new AbortError());

// Extra fields are typed.
expectType<SessionClosedReason>(new SessionClosedError('released').reason);
expectType<DaemonUnavailableReason>(new DaemonUnavailableError('bus-closed', 'm').reason);
expectType<number>(new TimeoutError('m', 5).timeout);
expectType<string>(new ExtensionNotSupportedError('Statistics').feature);
expectType<string>(new InvalidOptionError('allowedBearers', 'bad').option);
expectError(new SessionClosedError('exploded'));
expectError(new DaemonUnavailableError('offline', 'm'));

// Narrowing on the code works across the union of classes.
declare const err: SessionClosedError | TimeoutError | AbortError;
if (err.code === 'NS_ERR_TIMEOUT') expectType<TimeoutError>(err);

// A wait the policy made impossible names the bearers and the policy; probe failures are SDK errors.
const blocked = new BearersNotAllowedError(['cellular'], 'kiosk.policy:policy_kiosk');
expectType<'NS_ERR_BEARERS_NOT_ALLOWED'>(blocked.code);
expectType<readonly Bearer[]>(blocked.requested);
expectType<string | null>(blocked.policy);
expectType<'NS_ERR_PROBE_FAILED'>(new ProbeFailedError('refused').code);
