import { describe, expect, it } from 'vitest';
import { BusReplyError, toWireError } from '../../../../../daemon/adapters/dbus/errors.js';
import * as coreErrors from '../../../../../daemon/core/errors.js';
import {
  DaemonError,
  DBUS_ERROR_OF,
  SessionExistsError,
  UnknownBearerError,
} from '../../../../../daemon/core/errors.js';
import { ERROR_NAMES } from '../../../../../lib/protocol.js';

type ErrorClass = new (...args: unknown[]) => DaemonError;

/** Every concrete DaemonError class the core exports (found by reflection, so new ones are covered). */
function daemonErrorClasses(): Array<[string, ErrorClass]> {
  const out: Array<[string, ErrorClass]> = [];
  for (const [name, value] of Object.entries(coreErrors) as Array<[string, unknown]>) {
    if (typeof value === 'function' && value !== DaemonError && value.prototype instanceof DaemonError)
      out.push([name, value as ErrorClass]);
  }
  return out;
}

function instantiate(cls: ErrorClass): DaemonError {
  // Constructor arguments are names, paths and numbers; strings fit all of them.
  return new cls('x', 'y', 'z');
}

describe('D-Bus error mapping', () => {
  it('maps every DaemonError code to net.connman.Error.<DBUS_ERROR_OF[code]> with its message', () => {
    const classes = daemonErrorClasses();
    expect(classes.length).toBeGreaterThan(15);
    const seen = new Set<string>();
    for (const [name, cls] of classes) {
      const err = instantiate(cls);
      const suffix = DBUS_ERROR_OF[err.code];
      expect(suffix, `${name} (${err.code}) has a row in DBUS_ERROR_OF`).toBeDefined();
      expect(ERROR_NAMES).toContain(suffix);
      const logged: string[] = [];
      expect(toWireError(err, (_l, m) => logged.push(m))).toEqual({
        name: `net.connman.Error.${suffix}`,
        message: err.message,
      });
      expect(logged, 'expected errors are not logged').toEqual([]);
      seen.add(err.code);
    }
    expect([...seen].sort()).toEqual(Object.keys(DBUS_ERROR_OF).sort());
  });

  it('gives the ConnMan names for the common cases', () => {
    expect(toWireError(new UnknownBearerError('foo')).name).toBe('net.connman.Error.InvalidArguments');
    expect(toWireError(new SessionExistsError('/sessions/_1_1/n')).name).toBe('net.connman.Error.AlreadyExists');
  });

  it('turns any other error into Failed with a short message, and logs the details', () => {
    const logged: Array<[string, string]> = [];
    const err = new TypeError(`cannot read properties of undefined\n${'x'.repeat(500)}`);
    const wire = toWireError(err, (level, msg) => logged.push([level, msg]), 'net.connman.Manager.CreateSession');
    expect(wire.name).toBe('net.connman.Error.Failed');
    expect(wire.message).toBe('internal error: cannot read properties of undefined');
    expect(logged).toHaveLength(1);
    expect(logged[0]![0]).toBe('error');
    expect(logged[0]![1]).toContain('net.connman.Manager.CreateSession');
    expect(logged[0]![1]).toContain('TypeError');

    const long = toWireError(new Error('y'.repeat(1000)));
    expect(long.message.length).toBeLessThanOrEqual(160);
    expect(toWireError('a string').message).toBe('internal error: a string');
  });

  it('passes a BusReplyError through unchanged and unlogged', () => {
    const logged: string[] = [];
    const wire = { name: 'org.freedesktop.DBus.Error.UnknownObject', message: 'gone' };
    expect(toWireError(new BusReplyError(wire), (_l, m) => logged.push(m))).toEqual(wire);
    expect(logged).toEqual([]);
  });
});
