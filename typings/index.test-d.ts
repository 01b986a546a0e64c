import {
  type Bearer,
  type ConnectionType,
  FailedError,
  fromDBusError,
  InvalidArgumentsError,
  InvalidOptionError,
  type NetsessionError,
  PermissionDeniedError,
  type SessionSettings,
  type SessionState,
} from 'netsession';
import { BUS_NAME, sessionPath } from 'netsession/protocol';
import { expectAssignable, expectError, expectNotAssignable, expectType } from 'tsd';

expectType<'net.connman'>(BUS_NAME);
expectType<string>(sessionPath(':1.2', '/n'));

// Bearers and connection types are literal unions: a typo is a type error.
expectAssignable<Bearer>('cellular');
expectNotAssignable<Bearer>('lte');
expectAssignable<ConnectionType>('internet');
expectNotAssignable<ConnectionType>('bogus');
expectNotAssignable<SessionState>('ready');

// Settings carry ConnMan's types.
declare const s: SessionSettings;
expectType<SessionState>(s.State);
expectType<Bearer[]>(s.AllowedBearers);
expectType<number | undefined>(s.IPv6.PrefixLength);
expectType<Bearer | ''>(s.Bearer);

// Errors have literal codes and share one base class.
expectType<'NS_ERR_INVALID_ARGUMENTS'>(new InvalidArgumentsError('m', 'net.connman.Error.InvalidArguments').code);
expectType<'NS_ERR_PERMISSION_DENIED'>(new PermissionDeniedError('m', 'n').code);
expectType<'NS_ERR_FAILED'>(new FailedError('m', 'n').code);
expectType<'NS_ERR_INVALID_OPTION'>(new InvalidOptionError('allowedBearers', 'bad').code);
expectAssignable<NetsessionError>(fromDBusError('net.connman.Error.NotFound', 'x'));
expectType<string>(fromDBusError('x', 'y').dbusName);
expectError(new InvalidOptionError('only-one-arg'));
