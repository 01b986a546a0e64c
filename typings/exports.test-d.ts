// The value names of both entry points, exactly: one appearing or disappearing by mistake fails
// here (the type-only names are held to docs/sdk.md by test/unit/docs.test.ts).

import type { SessionTransport, Transport } from 'netsession';
import * as sdk from 'netsession';
import type * as protocol from 'netsession/protocol';
import { expectAssignable, expectError, expectType } from 'tsd';

declare const sdkNames: keyof typeof sdk;
expectType<
  | 'AbortError'
  | 'AlreadyConnectedError'
  | 'AlreadyDisabledError'
  | 'AlreadyEnabledError'
  | 'AlreadyExistsError'
  | 'BEARERS'
  | 'BearersNotAllowedError'
  | 'CONNECTION_TYPES'
  | 'DBusTransport'
  | 'DEFAULT_CREATE_TIMEOUT'
  | 'DaemonReplyError'
  | 'DaemonUnavailableError'
  | 'ExtensionNotSupportedError'
  | 'FailedError'
  | 'InProgressError'
  | 'InvalidArgumentsError'
  | 'InvalidOptionError'
  | 'InvalidPropertyError'
  | 'Manager'
  | 'MockSession'
  | 'MockTransport'
  | 'NativeModuleMissingError'
  | 'NetsessionError'
  | 'NotConnectedError'
  | 'NotConnectedReplyError'
  | 'NotFoundError'
  | 'NotImplementedError'
  | 'NotRegisteredError'
  | 'NotSupportedError'
  | 'OPTION_KEYS'
  | 'PermissionDeniedError'
  | 'ProbeFailedError'
  | 'ProtocolError'
  | 'Session'
  | 'SessionClosedError'
  | 'SourceIPRuleRequiredError'
  | 'TimeoutError'
  | 'UnknownDaemonError'
  | 'UplinkMonitor'
  | 'createSession'
  | 'fromDBusError'
  | 'getDefaultTransport'
  | 'getManager'
  | 'isValidInterfaceName'
  | 'monitorUplinks'
  | 'setDefaultTransport'
  | 'socketOptionsOf'
>(sdkNames);

declare const protocolNames: keyof typeof protocol;
expectType<
  | 'BEARERS'
  | 'BUS_NAME'
  | 'CONNECTION_TYPES'
  | 'CREATE_SETTING_SIGNATURES'
  | 'DEFAULT_BEARERS'
  | 'ERROR_NAMES'
  | 'ERROR_PREFIX'
  | 'EXTENSION_REQUEST_KEYS'
  | 'INTERFACES'
  | 'IPV4_SIGNATURES'
  | 'IPV6_SIGNATURES'
  | 'MANAGER_STATES'
  | 'METHODS'
  | 'NETSESSION_INTERFACE'
  | 'NETSESSION_MANAGER_INTERFACE'
  | 'NETSESSION_METHODS'
  | 'NETSESSION_SERVICE_INTERFACE'
  | 'NETSESSION_SIGNATURES'
  | 'PATHS'
  | 'SERVICE_STATES'
  | 'SERVICE_STATUS_KEYS'
  | 'SESSION_STATES'
  | 'SETTING_KEYS'
  | 'SETTING_SIGNATURES'
  | 'SIGNATURES'
  | 'STATISTICS_INTERVAL_LIMITS'
  | 'STATISTICS_KEYS'
  | 'errorName'
  | 'isObjectPath'
  | 'isValidInterfaceName'
  | 'servicePath'
  | 'sessionPath'
  | 'technologyPath'
>(protocolNames);

// Both entry points share one set of wire types: a Bearer of one is a Bearer of the other.
declare const bearer: protocol.Bearer;
expectType<sdk.Bearer>(bearer);
expectType<typeof protocol.BEARERS>(sdk.BEARERS);

// A third-party transport needs the session minimum only: three methods.
const minimal: SessionTransport = {
  createSession: () => Promise.reject(new Error('unused')),
  capabilities: () => Promise.resolve([]),
  close: () => Promise.resolve(),
};
expectAssignable<Transport>(minimal);
sdk.setDefaultTransport(minimal);
expectError<SessionTransport>({ createSession: minimal.createSession, close: minimal.close });
