/**
 * netsessiond's configuration: defaults, the INI file (`--config`), and command-line options,
 * in that order of precedence (the command line wins). Every key is documented in
 * docs/netsessiond.conf.example; a test keeps the two in step.
 */
import { parseArgs } from 'node:util';
import { BEARERS, type Bearer, BUS_NAME } from '../lib/protocol.js';
import { type CoreConfig, DEFAULT_CORE_CONFIG } from './core/config.js';
import { ConfigError } from './core/errors.js';
import { compileGlobList } from './core/glob.js';
import { DEFAULT_MANAGE_CONFIG, type ManageConfig } from './core/manage.js';
import {
  DEFAULT_ONLINE_CHECK_SETTINGS,
  type OnlineCheckSettings,
  validateOnlineCheckSettings,
} from './core/online-schedule.js';
import { DEFAULT_MAX_DIR_FILES, DEFAULT_MAX_FILE_BYTES } from './file-caps.js';

export interface DaemonConfig {
  busName: string;
  /** The private D-Bus socket clients may call without the bus (GetPeerAddress); '' for none. */
  peerSocket: string;
  stateDir: string;
  policyDir: string;
  interfaces: string[];
  ignore: string[];
  /** Per-interface-name bearer overrides, first match wins. */
  bearers: Array<{ glob: string; bearer: Bearer | 'ignore' }>;
  preferredTechnologies: Bearer[];
  onlineCheck: OnlineCheckSettings;
  onlineCheckUrl4: string;
  onlineCheckUrl6: string;
  core: CoreConfig;
  /** Kernel datapath backend: nftables (default), iptables (+NFACCT), or none (sessions only). */
  firewall: 'nftables' | 'iptables' | 'none';
  /** Seconds between full read-back reconciliations of the kernel state (0 = only on events). */
  reconcileInterval: number;
  debug: boolean;
  allowRootNetns: boolean;
  /** Manage mode: interfaces the daemon configures (globs; observe wins), autoconnect switches. */
  manage: ManageConfig;
  /** ConnMan `.config` provisioning files; default <stateDir>/provisioning. */
  provisioningDir: string;
  /** `['internal']` (the daemon's own DHCPv4 client, default) or the command (words) that runs busybox udhcpc. */
  dhcpClient: string[];
  /** The resolv.conf-style file for managed services' nameservers; default <stateDir>/resolv.conf. */
  resolvConf: string;
  /** Bytes per file the daemon reads (policy, provisioning, configuration, settings). */
  maxFileBytes: number;
  /** Files held per policy or provisioning directory. */
  maxDirFiles: number;
  /** Log lines below this level are dropped. */
  logLevel: LogLevel;
}

/** Log levels, most verbose first. */
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Defaults (ConnMan's where ConnMan has the setting). */
export function defaultConfig(): DaemonConfig {
  return {
    busName: BUS_NAME,
    peerSocket: '/run/netsession/private',
    stateDir: '/var/lib/netsession',
    policyDir: '/var/lib/netsession/session_policy_local',
    interfaces: [],
    ignore: ['lo'],
    bearers: [],
    preferredTechnologies: [],
    onlineCheck: { ...DEFAULT_ONLINE_CHECK_SETTINGS },
    onlineCheckUrl4: 'http://ipv4.connman.net/online/status.html',
    onlineCheckUrl6: 'http://ipv6.connman.net/online/status.html',
    core: { ...DEFAULT_CORE_CONFIG },
    firewall: 'nftables',
    reconcileInterval: 30,
    debug: false,
    allowRootNetns: false,
    manage: { ...DEFAULT_MANAGE_CONFIG },
    provisioningDir: '/var/lib/netsession/provisioning',
    dhcpClient: ['internal'],
    resolvConf: '/var/lib/netsession/resolv.conf',
    maxFileBytes: DEFAULT_MAX_FILE_BYTES,
    maxDirFiles: DEFAULT_MAX_DIR_FILES,
    logLevel: 'info',
  };
}

/** Parses INI text into sections of key/value pairs (`#`/`;` comments). */
export function parseIni(text: string, file: string): Map<string, Map<string, string>> {
  const out = new Map<string, Map<string, string>>();
  let section: Map<string, string> | null = null;
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) return;
    const head = /^\[([^\]]+)\]$/.exec(line);
    if (head) {
      section = out.get(head[1]!) ?? new Map();
      out.set(head[1]!, section);
      return;
    }
    const eq = line.indexOf('=');
    if (eq <= 0 || !section) throw new ConfigError(`${file}:${i + 1}: expected 'key = value' inside a [section]`);
    section.set(line.slice(0, eq).trim(), line.slice(eq + 1).trim());
  });
  return out;
}

const list = (v: string): string[] =>
  v
    .split(/[\s,;]+/)
    .map((x) => x.trim())
    .filter(Boolean);

function bool(key: string, v: string): boolean {
  if (/^(true|1|yes)$/i.test(v)) return true;
  if (/^(false|0|no)$/i.test(v)) return false;
  throw new ConfigError(`${key}: expected true or false, got '${v}'`);
}

function int(key: string, v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n)) throw new ConfigError(`${key}: expected an integer, got '${v}'`);
  return n;
}

function positive(key: string, v: string): number {
  const n = int(key, v);
  if (n < 1) throw new ConfigError(`${key}: expected an integer >= 1, got '${v}'`);
  return n;
}

function logLevel(key: string, v: string): LogLevel {
  if (!(LOG_LEVELS as readonly string[]).includes(v))
    throw new ConfigError(`${key}: expected one of ${LOG_LEVELS.join(', ')}, got '${v}'`);
  return v as LogLevel;
}

function range(key: string, v: string): { start: number; end: number } {
  const m = /^(\d+)\s*-\s*(\d+)$/.exec(v);
  if (!m) throw new ConfigError(`${key}: expected START-END, got '${v}'`);
  return { start: Number(m[1]), end: Number(m[2]) };
}

function firewallKind(key: string, v: string): DaemonConfig['firewall'] {
  if (v !== 'nftables' && v !== 'iptables' && v !== 'none')
    throw new ConfigError(`${key}: expected nftables, iptables or none, got '${v}'`);
  return v;
}

/** Interface globs, checked now so a typo fails at start, not at the first link. */
function globs(key: string, v: string): string[] {
  const out = list(v);
  try {
    compileGlobList(out);
  } catch (err) {
    throw new ConfigError(`${key}: ${(err as Error).message}`);
  }
  return out;
}

/** A unix socket path: absolute and within sun_path's 108 bytes, or '' (none). */
function socketPath(key: string, v: string): string {
  if (v === '') return v;
  if (!v.startsWith('/')) throw new ConfigError(`${key}: expected an absolute path or nothing, got '${v}'`);
  if (Buffer.byteLength(v) > 107) throw new ConfigError(`${key}: a socket path is at most 107 bytes`);
  return v;
}

function bearer(key: string, v: string): Bearer {
  if (!(BEARERS as readonly string[]).includes(v)) throw new ConfigError(`${key}: unknown bearer '${v}'`);
  return v as Bearer;
}

/** What `[General]` accepts; the example config documents each. */
const GENERAL: Record<string, (c: DaemonConfig, v: string, key: string) => void> = {
  BusName: (c, v) => (c.busName = v),
  PeerSocket: (c, v, k) => (c.peerSocket = socketPath(k, v)),
  StateDir: (c, v) => (c.stateDir = v),
  PolicyDir: (c, v) => (c.policyDir = v),
  Interfaces: (c, v) => (c.interfaces = list(v)),
  IgnoreInterfaces: (c, v) => (c.ignore = list(v)),
  PreferredTechnologies: (c, v, k) => (c.preferredTechnologies = list(v).map((b) => bearer(k, b))),
  OnlineCheckMode: (c, v) => (c.onlineCheck.mode = v as OnlineCheckSettings['mode']),
  OnlineCheckIPv4URL: (c, v) => (c.onlineCheckUrl4 = v),
  OnlineCheckIPv6URL: (c, v) => (c.onlineCheckUrl6 = v),
  OnlineCheckConnectTimeout: (c, v, k) => {
    const s = Number(v);
    if (!Number.isFinite(s) || s < 0) throw new ConfigError(`${k}: expected seconds >= 0, got '${v}'`);
    c.onlineCheck.connectTimeoutMs = Math.round(s * 1000);
  },
  OnlineCheckInitialInterval: (c, v, k) => (c.onlineCheck.initialInterval = int(k, v)),
  OnlineCheckMaxInterval: (c, v, k) => (c.onlineCheck.maxInterval = int(k, v)),
  OnlineCheckIntervalStyle: (c, v) => (c.onlineCheck.intervalStyle = v as OnlineCheckSettings['intervalStyle']),
  OnlineCheckFailuresThreshold: (c, v, k) => (c.onlineCheck.failuresThreshold = int(k, v)),
  OnlineCheckSuccessesThreshold: (c, v, k) => (c.onlineCheck.successesThreshold = int(k, v)),
  FwmarkMask: (c, v, k) => (c.core.markMask = int(k, v)),
  RoutingTableRange: (c, v, k) => (c.core.tableRange = range(k, v)),
  RulePriorityRange: (c, v, k) => (c.core.priorityRange = range(k, v)),
  MaxSessionsPerClient: (c, v, k) => (c.core.maxSessionsPerClient = int(k, v)),
  MaxSessionsPerUid: (c, v, k) => (c.core.maxSessionsPerUid = int(k, v)),
  SessionTagMask: (c, v, k) => (c.core.sessionTagMask = int(k, v)),
  Firewall: (c, v, k) => (c.firewall = firewallKind(k, v)),
  ReconcileInterval: (c, v, k) => {
    const n = int(k, v);
    if (n < 0) throw new ConfigError(`${k}: expected seconds >= 0, got '${v}'`);
    c.reconcileInterval = n;
  },
  Debug: (c, v, k) => (c.debug = bool(k, v)),
  LogLevel: (c, v, k) => (c.logLevel = logLevel(k, v)),
  MaxFileSize: (c, v, k) => (c.maxFileBytes = positive(k, v)),
  MaxDirFiles: (c, v, k) => (c.maxDirFiles = positive(k, v)),
  MaxPolicyGroups: (c, v, k) => (c.core.maxPolicyGroups = positive(k, v)),
  MaxProvisioningServices: (c, v, k) => (c.core.maxProvisioningServices = positive(k, v)),
  ManageInterfaces: (c, v, k) => (c.manage.manage = globs(k, v)),
  ObserveInterfaces: (c, v, k) => (c.manage.observe = globs(k, v)),
  ProvisioningDir: (c, v) => (c.provisioningDir = v),
  SingleConnectedTechnology: (c, v, k) => (c.manage.singleConnectedTechnology = bool(k, v)),
  AlwaysConnectedTechnologies: (c, v, k) => (c.manage.alwaysConnected = list(v).map((b) => bearer(k, b))),
  DhcpClient: (c, v, k) => {
    const words = v.split(/\s+/).filter(Boolean);
    if (words.length === 0)
      throw new ConfigError(`${k}: expected 'internal' or a command, e.g. 'udhcpc' or 'busybox udhcpc'`);
    c.dhcpClient = words;
  },
  ResolvConf: (c, v) => (c.resolvConf = v),
};

/** Most `[Bearers]` entries: each is matched against every new link's name. */
export const MAX_BEARER_OVERRIDES = 256;

/** Applies an INI file's text on top of `base`. */
export function applyConfigFile(base: DaemonConfig, text: string, file: string): DaemonConfig {
  const c = structuredClone(base);
  for (const [name, keys] of parseIni(text, file)) {
    if (name === 'Bearers' && keys.size > MAX_BEARER_OVERRIDES)
      throw new ConfigError(`${file}: [Bearers] has ${keys.size} entries, over the cap of ${MAX_BEARER_OVERRIDES}`);
    if (name === 'General') {
      for (const [k, v] of keys) {
        const set = GENERAL[k];
        if (!set) throw new ConfigError(`${file}: unknown key '${k}' in [General]`);
        set(c, v, k);
      }
    } else if (name === 'Bearers') {
      for (const [glob, v] of keys)
        c.bearers.push({ glob, bearer: v === 'ignore' ? 'ignore' : bearer(`[Bearers] ${glob}`, v) });
    } else {
      throw new ConfigError(`${file}: unknown section [${name}]`);
    }
  }
  return c;
}

/** Every key the [General] section accepts (for the docs test). */
export const GENERAL_KEYS = Object.keys(GENERAL);

export const USAGE = `usage: netsessiond [options]
  --config FILE             INI configuration (see docs/netsessiond.conf.example)
  --bus-name NAME           well-known bus name to own (default ${BUS_NAME})
  --peer-socket PATH        private D-Bus socket for clients, bus bypassed (default /run/netsession/private; '' for none)
  --state-dir DIR           state directory (default /var/lib/netsession)
  --policy-dir DIR          session policy directory (default <state-dir>/session_policy_local)
  --provisioning-dir DIR    ConnMan .config provisioning files (default <state-dir>/provisioning)
  --interfaces GLOBS        only manage these interfaces (comma-separated globs, like connmand -i)
  --ignore GLOBS            never manage these interfaces (like connmand -I)
  --online-check-url URL    IPv4 online-check URL
  --online-check-url6 URL   IPv6 online-check URL
  --online-check-mode MODE  none | one-shot | continuous
  --firewall KIND           nftables (default) | iptables | none
  --log-level LEVEL         debug | info (default) | warn | error
  --debug                   same as --log-level debug
  --max-file-size BYTES     largest policy, provisioning, config or settings file read (default 262144)
  --max-dir-files N         most files held per policy or provisioning directory (default 1000)
  --max-policy-groups N     most policy groups in force across all policy files (default 1000)
  --max-provisioning-services N  most [service_*] sections in force (default 1000)
  --version                 print the version and exit
  --allow-root-netns        run even in the machine's root network namespace
  --version                 print the version and exit
  --help                    this text`;

/**
 * Parses argv, reading the `--config` file through `readFile` (given the file-size cap). Returns
 * null for --help (`--version` is answered before this runs).
 */
export function loadConfig(argv: string[], readFile: (path: string, maxBytes: number) => string): DaemonConfig | null {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      config: { type: 'string' },
      'bus-name': { type: 'string' },
      'peer-socket': { type: 'string' },
      'state-dir': { type: 'string' },
      'policy-dir': { type: 'string' },
      'provisioning-dir': { type: 'string' },
      interfaces: { type: 'string' },
      ignore: { type: 'string' },
      'online-check-url': { type: 'string' },
      'online-check-url6': { type: 'string' },
      'online-check-mode': { type: 'string' },
      firewall: { type: 'string' },
      debug: { type: 'boolean' },
      'log-level': { type: 'string' },
      'max-file-size': { type: 'string' },
      'max-dir-files': { type: 'string' },
      'max-policy-groups': { type: 'string' },
      'max-provisioning-services': { type: 'string' },
      'allow-root-netns': { type: 'boolean' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) return null;
  let c = defaultConfig();
  // The cap from the command line applies to the config file itself too.
  const maxFile =
    values['max-file-size'] !== undefined ? positive('--max-file-size', values['max-file-size']) : c.maxFileBytes;
  if (values.config) c = applyConfigFile(c, readFile(values.config, maxFile), values.config);
  const policyDirSet = values['policy-dir'] !== undefined || c.policyDir !== defaultConfig().policyDir;
  const provisioningDirSet =
    values['provisioning-dir'] !== undefined || c.provisioningDir !== defaultConfig().provisioningDir;
  const resolvSet = c.resolvConf !== defaultConfig().resolvConf;
  if (values['bus-name']) c.busName = values['bus-name'];
  if (values['peer-socket'] !== undefined) c.peerSocket = socketPath('--peer-socket', values['peer-socket']);
  if (values['state-dir']) c.stateDir = values['state-dir'];
  if (values['policy-dir']) c.policyDir = values['policy-dir'];
  else if (!policyDirSet) c.policyDir = `${c.stateDir}/session_policy_local`;
  if (values['provisioning-dir']) c.provisioningDir = values['provisioning-dir'];
  else if (!provisioningDirSet) c.provisioningDir = `${c.stateDir}/provisioning`;
  if (!resolvSet) c.resolvConf = `${c.stateDir}/resolv.conf`;
  if (values.interfaces) c.interfaces = list(values.interfaces);
  if (values.ignore) c.ignore = [...new Set([...c.ignore, ...list(values.ignore)])];
  if (values['online-check-url']) c.onlineCheckUrl4 = values['online-check-url'];
  if (values['online-check-url6']) c.onlineCheckUrl6 = values['online-check-url6'];
  if (values['online-check-mode']) c.onlineCheck.mode = values['online-check-mode'] as OnlineCheckSettings['mode'];
  if (values.firewall) c.firewall = firewallKind('--firewall', values.firewall);
  if (values.debug) c.debug = true;
  if (values['log-level']) c.logLevel = logLevel('--log-level', values['log-level']);
  else if (c.debug) c.logLevel = 'debug';
  if (values['max-file-size'] !== undefined) c.maxFileBytes = maxFile;
  if (values['max-dir-files'] !== undefined) c.maxDirFiles = positive('--max-dir-files', values['max-dir-files']);
  if (values['max-policy-groups'] !== undefined)
    c.core.maxPolicyGroups = positive('--max-policy-groups', values['max-policy-groups']);
  if (values['max-provisioning-services'] !== undefined)
    c.core.maxProvisioningServices = positive('--max-provisioning-services', values['max-provisioning-services']);
  if (values['allow-root-netns']) c.allowRootNetns = true;
  c.onlineCheck = validateOnlineCheckSettings(c.onlineCheck);
  return c;
}
