/** netsessionctl's command line: what parses to what, and what is a usage error. */
import { describe, expect, it } from 'vitest';
import { parseArgs, parseBearers } from '../../../bin/cli/args.js';
import { EXIT, errorLine, exitCodeOf, UsageError } from '../../../bin/cli/errors.js';
import { AbortError, DaemonUnavailableError, FailedError, InvalidOptionError } from '../../../lib/index.js';
import { usageError } from '../../fakes/cli.js';

describe('parseArgs', () => {
  it('simple commands, with global options anywhere before --', () => {
    expect(parseArgs(['state'])).toEqual({ command: { name: 'state' }, json: false, bus: undefined });
    expect(parseArgs(['--json', 'services'])).toEqual({ command: { name: 'services' }, json: true, bus: undefined });
    expect(parseArgs(['technologies', '--bus', 'unix:path=/x', '--json'])).toEqual({
      command: { name: 'technologies' },
      json: true,
      bus: 'unix:path=/x',
    });
    expect(parseArgs(['--bus=unix:path=/y', 'sessions']).bus).toBe('unix:path=/y');
    expect(parseArgs(['help']).command).toEqual({ name: 'help' });
    expect(parseArgs(['state', '--help']).command).toEqual({ name: 'help' });
  });

  it('enable/disable a known technology, offline on|off', () => {
    expect(parseArgs(['enable', 'wifi']).command).toEqual({ name: 'power', technology: 'wifi', on: true });
    expect(parseArgs(['disable', 'cellular']).command).toEqual({ name: 'power', technology: 'cellular', on: false });
    expect(parseArgs(['offline', 'on']).command).toEqual({ name: 'offline', on: true });
    expect(parseArgs(['offline', 'off']).command).toEqual({ name: 'offline', on: false });
  });

  it('connect/disconnect SERVICE and autoconnect SERVICE on|off keep the service as given', () => {
    expect(parseArgs(['connect', 'eth-a']).command).toEqual({ name: 'connect', service: 'eth-a', on: true });
    expect(parseArgs(['disconnect', 'ethernet_020000000001_cable']).command).toEqual({
      name: 'connect',
      service: 'ethernet_020000000001_cable',
      on: false,
    });
    expect(parseArgs(['--json', 'connect', '/net/connman/service/wifi_020000000002_eth_b']).command).toEqual({
      name: 'connect',
      service: '/net/connman/service/wifi_020000000002_eth_b',
      on: true,
    });
    expect(parseArgs(['autoconnect', 'eth-b', 'off']).command).toEqual({
      name: 'autoconnect',
      service: 'eth-b',
      on: false,
    });
    expect(parseArgs(['autoconnect', 'eth-b', 'on', '--json'])).toEqual({
      command: { name: 'autoconnect', service: 'eth-b', on: true },
      json: true,
      bus: undefined,
    });
  });

  it('session create and run take session options; run needs -- and a command', () => {
    expect(
      parseArgs([
        'session',
        'create',
        '--bearers',
        'cellular,wifi',
        '--type',
        'internet',
        '--source-ip-rule',
        '--context',
        'ci',
        '--wait',
      ]).command,
    ).toEqual({
      name: 'session-create',
      session: {
        allowedBearers: ['cellular', 'wifi'],
        connectionType: 'internet',
        sourceIPRule: true,
        contextIdentifier: 'ci',
      },
      waitMs: 30_000,
    });
    expect(parseArgs(['run', '--interface=eth-c', '--', 'curl', '--json', '-s', 'http://x/']).command).toEqual({
      name: 'run',
      session: { allowedInterface: 'eth-c' },
      waitMs: null,
      argv: ['curl', '--json', '-s', 'http://x/'],
    });
    // Options after -- belong to the command, global ones included.
    expect(parseArgs(['run', '--', 'sh', '--bus', 'x']).bus).toBeUndefined();
  });

  it('monitor --interval and stats [PATH]', () => {
    expect(parseArgs(['monitor']).command).toEqual({ name: 'monitor', intervalMs: 1000 });
    expect(parseArgs(['monitor', '--interval', '250']).command).toEqual({ name: 'monitor', intervalMs: 250 });
    expect(parseArgs(['stats']).command).toEqual({ name: 'stats', path: null });
    expect(parseArgs(['stats', '/sessions/_1_5/netsession/9/s1']).command).toEqual({
      name: 'stats',
      path: '/sessions/_1_5/netsession/9/s1',
    });
  });

  it('usage errors name the problem in one line', () => {
    expect(usageError([])).toBe('no command given');
    expect(usageError(['frob'])).toMatch(/^unknown command 'frob'/);
    expect(usageError(['state', '--frob'])).toBe("state: unknown option '--frob'");
    expect(usageError(['--frob', 'state'])).toBe("unknown option '--frob'");
    expect(usageError(['state', 'extra'])).toBe("state: unexpected argument 'extra'");
    expect(usageError(['session', 'create', '--bearers', 'ethernet,lte'])).toMatch(/^unknown bearer 'lte'/);
    expect(usageError(['session', 'create', '--interface', 'a/b'])).toMatch(/not a valid interface name/);
    expect(usageError(['session', 'create', '--type', 'fast'])).toMatch(/not a connection type/);
    expect(usageError(['session', 'create', '--bearers'])).toBe("option '--bearers' needs a value");
    expect(usageError(['session'])).toBe("session: expected 'create'");
    expect(usageError(['run', 'curl'])).toMatch(/^run: missing '--'/);
    expect(usageError(['run', '--'])).toBe("run: no command after '--'");
    expect(usageError(['enable'])).toMatch(/^enable: expected a technology/);
    expect(usageError(['enable', 'lte'])).toMatch(/^enable: unknown technology 'lte'/);
    expect(usageError(['offline', 'maybe'])).toBe("offline: expected 'on' or 'off', got 'maybe'");
    expect(usageError(['connect'])).toBe('connect: expected a service (its path, id or interface name)');
    expect(usageError(['disconnect', '--all'])).toBe("disconnect: unknown option '--all'");
    expect(usageError(['connect', 'eth-a', 'eth-b'])).toBe("connect: unexpected argument 'eth-b'");
    expect(usageError(['connect', '/net/connman/technology/wifi'])).toBe(
      "connect: '/net/connman/technology/wifi' is not a service path, id or interface name",
    );
    expect(usageError(['disconnect', 'a/b'])).toBe("disconnect: 'a/b' is not a service path, id or interface name");
    expect(usageError(['autoconnect', 'eth-a'])).toBe("autoconnect: expected 'on' or 'off'");
    expect(usageError(['autoconnect', 'eth-a', 'yes'])).toBe("autoconnect: expected 'on' or 'off', got 'yes'");
    expect(usageError(['autoconnect', 'eth-a', 'on', 'now'])).toBe("autoconnect: unexpected argument 'now'");
    expect(usageError(['monitor', '--interval', '5'])).toMatch(/--interval needs/);
    expect(usageError(['stats', 'not/a/path'])).toBe("stats: unexpected argument 'not/a/path'");
    expect(usageError(['stats', '/a-b'])).toMatch(/not a session object path/);
    expect(usageError(['--bus'])).toBe("option '--bus' needs a value");
    expect(usageError(['--json=1', 'state'])).toBe("option '--json' takes no value");
    expect(usageError(['state', '--', 'x'])).toBe("state: unexpected '--'");
  });

  it('parseBearers keeps the order and accepts *', () => {
    expect(parseBearers('wifi,*')).toEqual(['wifi', '*']);
    expect(() => parseBearers('wifi,,cellular')).toThrow(UsageError);
  });
});

describe('exit codes and the error line', () => {
  it('maps errors to the documented codes', () => {
    expect(exitCodeOf(new UsageError('x'))).toBe(EXIT.usage);
    expect(exitCodeOf(new InvalidOptionError('allowedBearers', 'bad'))).toBe(2);
    expect(exitCodeOf(new DaemonUnavailableError('no-daemon', 'gone'))).toBe(3);
    expect(exitCodeOf(new FailedError('no', 'net.connman.Error.Failed'))).toBe(1);
    expect(exitCodeOf(new Error('x'))).toBe(1);
    expect(exitCodeOf(new AbortError())).toBe(130);
  });

  it('is one line without a stack trace', () => {
    const err = new Error('first line\n   second line');
    expect(errorLine(err)).toBe('netsessionctl: first line second line');
    expect(errorLine('plain')).toBe('netsessionctl: plain');
  });
});
