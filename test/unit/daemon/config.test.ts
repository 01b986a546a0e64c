import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { applyConfigFile, defaultConfig, GENERAL_KEYS, loadConfig, parseIni } from '../../../daemon/config.js';
import type { ConfigError } from '../../../daemon/core/errors.js';

const EXAMPLE = readFileSync(new URL('../../../docs/netsessiond.conf.example', import.meta.url), 'utf8');

function err(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return `${(e as ConfigError).code}: ${(e as Error).message}`;
  }
  return 'no error';
}

describe('daemon configuration', () => {
  it('the example file documents every [General] key, and nothing else', () => {
    const documented = [...parseIni(EXAMPLE, 'example').get('General')!.keys()].sort();
    expect(documented).toEqual([...GENERAL_KEYS].sort());
  });

  it('the example file, as shipped, gives exactly the defaults', () => {
    const fromFile = applyConfigFile(defaultConfig(), EXAMPLE, 'example');
    expect(fromFile).toEqual(defaultConfig());
  });

  it('reads keys, ranges, masks and bearer overrides', () => {
    const c = applyConfigFile(
      defaultConfig(),
      '[General]\nOnlineCheckMode=continuous\nOnlineCheckConnectTimeout=2.5\nFwmarkMask=0x00ff0000\nRoutingTableRange=300-399\nPreferredTechnologies=wifi,cellular\n[Bearers]\nwwan* = cellular\nveth9 = ignore\n',
      'f.conf',
    );
    expect(c.onlineCheck).toMatchObject({ mode: 'continuous', connectTimeoutMs: 2500 });
    expect(c.core.markMask).toBe(0x00ff0000);
    expect(c.core.tableRange).toEqual({ start: 300, end: 399 });
    expect(c.preferredTechnologies).toEqual(['wifi', 'cellular']);
    expect(c.bearers).toEqual([
      { glob: 'wwan*', bearer: 'cellular' },
      { glob: 'veth9', bearer: 'ignore' },
    ]);
  });

  it.each([
    ['[General]\nNope = 1\n', "NSD_ERR_CONFIG: f.conf: unknown key 'Nope' in [General]"],
    ['[Other]\nx=1\n', 'NSD_ERR_CONFIG: f.conf: unknown section [Other]'],
    ['x=1\n', "NSD_ERR_CONFIG: f.conf:1: expected 'key = value' inside a [section]"],
    [
      '[General]\nMaxSessionsPerClient = lots\n',
      "NSD_ERR_CONFIG: MaxSessionsPerClient: expected an integer, got 'lots'",
    ],
    ['[General]\nRoutingTableRange = 5\n', "NSD_ERR_CONFIG: RoutingTableRange: expected START-END, got '5'"],
    ['[General]\nDebug = maybe\n', "NSD_ERR_CONFIG: Debug: expected true or false, got 'maybe'"],
    ['[Bearers]\neth0 = lte\n', "NSD_ERR_CONFIG: [Bearers] eth0: unknown bearer 'lte'"],
  ])('rejects %j with a one-line message', (text, message) => {
    expect(err(() => applyConfigFile(defaultConfig(), text, 'f.conf'))).toBe(message);
  });

  it('command-line options override the file; the policy dir follows the state dir', () => {
    const c = loadConfig(
      [
        '--config',
        'x.conf',
        '--state-dir',
        '/tmp/st',
        '--bus-name',
        'org.test.N',
        '--online-check-mode',
        'none',
        '--ignore',
        'veth*',
      ],
      () => '[General]\nOnlineCheckMode = continuous\n',
    )!;
    expect(c.busName).toBe('org.test.N');
    expect(c.onlineCheck.mode).toBe('none');
    expect(c.policyDir).toBe('/tmp/st/session_policy_local');
    expect(c.ignore).toEqual(['lo', 'veth*']);
    expect(c.allowRootNetns).toBe(false);
  });

  it('the private socket: a default path, PeerSocket and --peer-socket (the flag wins), empty for none, relative or overlong paths refused', () => {
    expect(defaultConfig().peerSocket).toBe('/run/netsession/private');
    const file = () => '[General]\nPeerSocket = /run/x/p\n';
    expect(loadConfig(['--config', 'x.conf'], file)!.peerSocket).toBe('/run/x/p');
    expect(loadConfig(['--config', 'x.conf', '--peer-socket', '/tmp/q'], file)!.peerSocket).toBe('/tmp/q');
    expect(loadConfig(['--peer-socket', ''], () => '')!.peerSocket).toBe('');
    expect(err(() => loadConfig(['--peer-socket', 'rel/p'], () => ''))).toMatch(
      /^NSD_ERR_CONFIG: --peer-socket: expected an absolute path/,
    );
    expect(
      err(() => applyConfigFile(defaultConfig(), `[General]\nPeerSocket = /${'a'.repeat(120)}\n`, 'f.conf')),
    ).toMatch(/PeerSocket: a socket path is at most 107 bytes/);
  });

  it('--help returns null, unknown options and bad modes throw', () => {
    expect(loadConfig(['--help'], () => '')).toBeNull();
    expect(err(() => loadConfig(['--frobnicate'], () => ''))).toMatch(/Unknown option '--frobnicate'/);
    expect(err(() => loadConfig(['--online-check-mode', 'sometimes'], () => ''))).toMatch(/^NSD_ERR_CONFIG: .*mode/);
  });

  it('caps and the log level: defaults, file keys, flags (the flags win), and the file-size cap reaches the config file itself', () => {
    const d = defaultConfig();
    expect([d.maxFileBytes, d.maxDirFiles, d.core.maxPolicyGroups, d.core.maxProvisioningServices, d.logLevel]).toEqual(
      [262144, 1000, 1000, 1000, 'info'],
    );
    let cap = 0;
    const c = loadConfig(
      ['--config', 'x.conf', '--max-file-size', '4096', '--max-policy-groups', '7', '--log-level', 'warn'],
      (_p, max) => {
        cap = max;
        return '[General]\nMaxDirFiles = 5\nMaxPolicyGroups = 9\nMaxProvisioningServices = 3\nLogLevel = debug\n';
      },
    )!;
    expect(cap).toBe(4096);
    expect([c.maxFileBytes, c.maxDirFiles, c.core.maxPolicyGroups, c.core.maxProvisioningServices, c.logLevel]).toEqual(
      [4096, 5, 7, 3, 'warn'],
    );
    expect(loadConfig(['--debug'], () => '')!.logLevel).toBe('debug');
    expect(err(() => loadConfig(['--log-level', 'loud'], () => ''))).toMatch(
      /--log-level: expected one of debug, info, warn, error/,
    );
    expect(err(() => loadConfig(['--max-dir-files', '0'], () => ''))).toMatch(
      /--max-dir-files: expected an integer >= 1/,
    );
    expect(
      err(() =>
        applyConfigFile(
          defaultConfig(),
          `[Bearers]\n${Array.from({ length: 257 }, (_, i) => `e${i} = wifi`).join('\n')}\n`,
          'f.conf',
        ),
      ),
    ).toMatch(/\[Bearers\] has 257 entries, over the cap of 256/);
  });
});
