/** `-o FIELD,...` and `--no-headers` on the list commands: chosen columns, JSON with just those keys, errors for the rest. */
import { describe, expect, it } from 'vitest';
import { parseArgs } from '../../../bin/cli/args.js';
import { LIST_FIELDS } from '../../../bin/cli/columns.js';
import { createSession, MockTransport } from '../../../lib/index.js';
import { cli, UPLINKS, usageError as usage } from '../../fakes/cli.js';

describe('parsing -o and --no-headers', () => {
  it('takes a comma-separated list anywhere before --, as -o LIST, --output LIST or --output=LIST', () => {
    expect(parseArgs(['services', '-o', 'interface,state']).output).toEqual({
      fields: ['interface', 'state'],
      headers: true,
    });
    expect(parseArgs(['-o', 'Path', 'sessions', '--no-headers']).output).toEqual({ fields: ['path'], headers: false });
    expect(parseArgs(['stats', '--output=path,rx-bytes']).output).toEqual({
      fields: ['path', 'rx-bytes'],
      headers: true,
    });
    expect(parseArgs(['technologies', '--no-headers']).output).toEqual({ fields: null, headers: false });
    expect(parseArgs(['services']).output).toBeUndefined();
  });

  it('an unknown field, an empty list or a command that is no list is a usage error', () => {
    expect(usage(['services', '-o', 'interface,speed'])).toBe(
      `services: unknown field 'speed' (fields: ${LIST_FIELDS.services.join(', ')})`,
    );
    expect(usage(['sessions', '-o', 'path,'])).toMatch(/^sessions: unknown field ''/);
    expect(usage(['state', '-o', 'state'])).toBe(
      "-o applies to the lists (services, technologies, sessions, stats), not to 'state'",
    );
    expect(usage(['services', 'eth-a', '--no-headers'])).toMatch(/^--no-headers applies to the lists/);
    expect(usage(['services', '-o'])).toBe("option '-o' needs a value");
  });
});

describe('list output with -o', () => {
  it('services: the chosen columns, in the order given', async () => {
    const r = await cli(['services', '-o', 'id,interface,ipv4,online']);
    expect(r.out.split('\n')).toEqual([
      'ID          INTERFACE  IPV4              ONLINE',
      'mock_eth_a  eth-a      198.51.100.10/29  yes',
      'mock_eth_c  eth-c      198.51.100.26/29  yes',
    ]);
  });

  it('--no-headers gives rows only (nothing at all for no rows), for `while read` loops', async () => {
    expect((await cli(['services', '-o', 'interface', '--no-headers'])).out).toBe('eth-a\neth-c');
    const empty = await cli(['sessions', '--no-headers']);
    expect({ code: empty.code, out: empty.out }).toEqual({ code: 0, out: '' });
  });

  it('--json -o: objects with just those keys, counters as numbers', async () => {
    const mock = new MockTransport({ uplinks: UPLINKS });
    expect(JSON.parse((await cli(['--json', 'services', '-o', 'interface,online,gateway'], mock)).out)).toEqual([
      { interface: 'eth-a', online: true, gateway: null },
      { interface: 'eth-c', online: true, gateway: null },
    ]);
    const s = await createSession({ transport: mock, allowedBearers: ['cellular'] });
    mock.sessionFor(s).statistics = { rxBytes: 100n, txBytes: 200n, rxPackets: 3n, txPackets: 4n };
    expect(JSON.parse((await cli(['--json', 'sessions', '-o', 'path,interface,rx,bearers'], mock)).out)).toEqual([
      { path: s.path, interface: 'eth-c', rx: 100, bearers: ['cellular'] },
    ]);
    expect(JSON.parse((await cli(['--json', 'stats', s.path, '-o', 'rx-bytes,tx-packets'], mock)).out)).toEqual({
      'rx-bytes': 100,
      'tx-packets': 4,
    });
    expect((await cli(['stats', '-o', 'tx-bytes', '--no-headers'], mock)).out).toBe('200');
    expect((await cli(['technologies', '-o', 'type,powered'], mock)).out).toBe(
      'TYPE      POWERED\nethernet  yes\ncellular  yes',
    );
    await s.destroy();
  });

  it('without -o the output is what it was (default columns, the SDK objects in JSON)', async () => {
    expect((await cli(['services'])).out.split('\n')[0]).toMatch(/^INTERFACE +BEARER +STATE +NAME +PATH$/);
    expect(Object.keys((JSON.parse((await cli(['--json', 'services'])).out) as object[])[0]!)).toEqual([
      'path',
      'name',
      'interface',
      'bearer',
      'state',
      'ipv4',
      'ipv6',
      'nameservers',
      'metered',
      'roaming',
      'captivePortal',
      'portalUrl',
    ]);
  });
});
