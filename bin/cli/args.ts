/**
 * netsessionctl's command line, parsed into a plain value (pure: no I/O). Everything the
 * daemon would reject for a reason the command line can see (an unknown bearer, a bad interface
 * name, a missing `--`) is a {@link UsageError} here, before anything is sent.
 */
import {
  BEARERS,
  type Bearer,
  type BearerOption,
  CONNECTION_TYPES,
  type ConnectionType,
  isValidInterfaceName,
  type SessionOptions,
} from '../../lib/index.js';
import { LIST_FIELDS, type ListCommand } from './columns.js';
import { UsageError } from './errors.js';

/** What to do. */
export type Command =
  | { name: 'help' }
  | { name: 'version' }
  | { name: 'state' }
  /** Without `service`: the list; with it, that one service in detail (a path, id or interface name). */
  | { name: 'services'; service?: string }
  | { name: 'technologies' }
  | { name: 'power'; technology: Bearer; on: boolean }
  /** `connect` (on) / `disconnect`: `service` as given (a service path, id or interface name). */
  | { name: 'connect'; service: string; on: boolean }
  | { name: 'autoconnect'; service: string; on: boolean }
  | { name: 'offline'; on: boolean }
  | { name: 'sessions' }
  /** `waitMs`: `--wait[=SECONDS]`, how long to wait for an uplink (null: no waiting). */
  | { name: 'session-create'; session: SessionOptions; waitMs: number | null }
  | { name: 'monitor'; intervalMs: number }
  | { name: 'run'; session: SessionOptions; waitMs: number | null; argv: string[] }
  | { name: 'stats'; path: string | null };

/** `-o FIELDS` and `--no-headers` of a list command. */
export interface ListOutput {
  /** The fields to show, in this order (null: the command's default columns). */
  fields: readonly string[] | null;
  /** false with `--no-headers`: table rows only, for scripts. */
  headers: boolean;
}

/** A parsed command line. */
export interface Invocation {
  command: Command;
  /** `--json`: one JSON document (JSON lines for streaming commands) instead of text. */
  json: boolean;
  /** `--bus ADDRESS`; undefined: `DBUS_SYSTEM_BUS_ADDRESS`, else the system bus. */
  bus: string | undefined;
  /** `-o`/`--no-headers` (list commands only); undefined when neither was given. */
  output?: ListOutput;
}

/** Every command name, in the order the usage lists them. */
export const COMMANDS = [
  'state',
  'services',
  'technologies',
  'enable',
  'disable',
  'connect',
  'disconnect',
  'autoconnect',
  'offline',
  'sessions',
  'session',
  'monitor',
  'run',
  'stats',
  'help',
] as const;

/** How long `--wait` without a value waits for an uplink (s). */
export const DEFAULT_WAIT_S = 30;
/** The longest `--wait=SECONDS` (an hour: longer is a job for a service, not a command). */
const MAX_WAIT_S = 3600;

/** Default poll interval of `monitor` for the session list (ms). */
export const DEFAULT_MONITOR_INTERVAL_MS = 1000;

/** Options that take a value, per place they may appear. */
const GLOBAL_VALUED = new Set(['--bus', '-o', '--output']);
const SESSION_VALUED = new Set(['--bearers', '--interface', '--type', '--context']);
const SESSION_FLAGS = new Set(['--source-ip-rule']);
/** Options whose value is optional, so only `--opt=value` gives one (`--wait` alone is the default). */
const OPTIONAL_VALUED = new Set(['--wait']);

interface Scanned {
  json: boolean;
  bus: string | undefined;
  help: boolean;
  version: boolean;
  /** `-o`/`--output` as given (comma-separated). */
  fields: string | undefined;
  noHeaders: boolean;
  /** Positionals and command options, in order, global options removed. */
  rest: string[];
  /** Everything after the first `--` (null: there was none). */
  tail: string[] | null;
}

/** Splits `--opt=value`, takes global options out wherever they are (up to `--`). */
function scan(argv: readonly string[]): Scanned {
  const out: Scanned = {
    json: false,
    bus: undefined,
    help: false,
    version: false,
    fields: undefined,
    noHeaders: false,
    rest: [],
    tail: null,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      out.tail = argv.slice(i + 1);
      break;
    }
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    if (name === '--json' || name === '-h' || name === '--help' || name === '--version' || name === '--no-headers') {
      if (eq > 0) throw new UsageError(`option '${name}' takes no value`);
      if (name === '--json') out.json = true;
      else if (name === '--version') out.version = true;
      else if (name === '--no-headers') out.noHeaders = true;
      else out.help = true;
      continue;
    }
    if (GLOBAL_VALUED.has(name)) {
      const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
      if (value === undefined || value === '') throw new UsageError(`option '${name}' needs a value`);
      if (name === '--bus') out.bus = value;
      else out.fields = value;
      continue;
    }
    if (eq > 0 && !OPTIONAL_VALUED.has(name)) out.rest.push(name, arg.slice(eq + 1));
    else out.rest.push(arg);
  }
  return out;
}

/** `--wait` (the default) or `--wait=SECONDS` (more than 0, at most an hour, fractions allowed) in ms. */
function waitOption(arg: string): number {
  if (arg === '--wait') return DEFAULT_WAIT_S * 1000;
  const value = arg.slice('--wait='.length);
  const s = Number(value);
  if (value.trim() === '' || !Number.isFinite(s) || s <= 0 || s > MAX_WAIT_S)
    throw new UsageError(`--wait=SECONDS needs a number of seconds above 0, at most ${MAX_WAIT_S} (got '${value}')`);
  return Math.round(s * 1000);
}

/** Reads session options (and `--wait[=SECONDS]`) from `args`; anything else left over is an error. */
function sessionOptions(command: string, args: readonly string[]): { session: SessionOptions; waitMs: number | null } {
  const session: { -readonly [K in keyof SessionOptions]: SessionOptions[K] } = {};
  let waitMs: number | null = null;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--wait' || arg.startsWith('--wait=')) {
      waitMs = waitOption(arg);
      continue;
    }
    if (SESSION_FLAGS.has(arg)) {
      session.sourceIPRule = true;
      continue;
    }
    if (!SESSION_VALUED.has(arg)) {
      if (arg.startsWith('-')) throw new UsageError(`${command}: unknown option '${arg}'`);
      throw new UsageError(`${command}: unexpected argument '${arg}'`);
    }
    const value = args[++i];
    if (value === undefined) throw new UsageError(`option '${arg}' needs a value`);
    switch (arg) {
      case '--bearers':
        session.allowedBearers = parseBearers(value);
        break;
      case '--interface':
        if (value !== '*' && !isValidInterfaceName(value))
          throw new UsageError(`'${value}' is not a valid interface name (1-15 bytes, no '/', ':' or whitespace)`);
        session.allowedInterface = value;
        break;
      case '--type':
        if (!(CONNECTION_TYPES as readonly string[]).includes(value))
          throw new UsageError(`'${value}' is not a connection type (expected ${CONNECTION_TYPES.join(', ')})`);
        session.connectionType = value as ConnectionType;
        break;
      case '--context':
        if (value.includes('\0')) throw new UsageError('--context must not contain NUL characters');
        session.contextIdentifier = value;
        break;
    }
  }
  return { session, waitMs };
}

/** `cellular,wifi` or `*`: bearers in order of preference. */
export function parseBearers(value: string): BearerOption[] {
  const list = value.split(',').map((b) => b.trim());
  for (const b of list) {
    if (b !== '*' && !(BEARERS as readonly string[]).includes(b))
      throw new UsageError(`unknown bearer '${b}' (expected ${BEARERS.join(', ')} or *)`);
  }
  return list as BearerOption[];
}

function noMore(command: string, args: readonly string[]): void {
  const extra = args[0];
  if (extra === undefined) return;
  throw new UsageError(
    extra.startsWith('-') ? `${command}: unknown option '${extra}'` : `${command}: unexpected argument '${extra}'`,
  );
}

function onOff(command: string, value: string | undefined): boolean {
  if (value === 'on') return true;
  if (value === 'off') return false;
  throw new UsageError(`${command}: expected 'on' or 'off'${value === undefined ? '' : `, got '${value}'`}`);
}

/** A service as the user names it: its object path, its id or an interface name (resolved against the daemon's list later). */
function serviceArg(command: string, value: string | undefined): string {
  if (value === undefined) throw new UsageError(`${command}: expected a service (its path, id or interface name)`);
  if (value.startsWith('-')) throw new UsageError(`${command}: unknown option '${value}'`);
  if (
    value.startsWith('/')
      ? !/^\/net\/connman\/service\/[A-Za-z0-9_]+$/.test(value)
      : !/^[A-Za-z0-9_]+$/.test(value) && !isValidInterfaceName(value)
  ) {
    throw new UsageError(`${command}: '${value}' is not a service path, id or interface name`);
  }
  return value;
}

/** `-o`/`--no-headers` checked against the command: only lists take them, only their fields. */
function listOutput(s: Scanned, command: Command): ListOutput | undefined {
  if ((s.fields === undefined && !s.noHeaders) || command.name === 'help' || command.name === 'version')
    return undefined;
  const list =
    command.name in LIST_FIELDS && !('service' in command && command.service !== undefined)
      ? (command.name as ListCommand)
      : null;
  const option = s.fields !== undefined ? '-o' : '--no-headers';
  if (!list)
    throw new UsageError(
      `${option} applies to the lists (${Object.keys(LIST_FIELDS).join(', ')}), not to '${command.name}'`,
    );
  if (s.fields === undefined) return { fields: null, headers: false };
  const known: readonly string[] = LIST_FIELDS[list];
  const fields = s.fields.split(',').map((f) => f.trim().toLowerCase());
  for (const f of fields) {
    if (!known.includes(f)) throw new UsageError(`${list}: unknown field '${f}' (fields: ${known.join(', ')})`);
  }
  return { fields, headers: !s.noHeaders };
}

/** Parses argv (without node and the script). Throws {@link UsageError}. */
export function parseArgs(argv: readonly string[]): Invocation {
  const s = scan(argv);
  const [name, ...args] = s.rest;
  const inv = (command: Command): Invocation => {
    const output = listOutput(s, command);
    return output ? { command, json: s.json, bus: s.bus, output } : { command, json: s.json, bus: s.bus };
  };
  if (s.help || name === 'help') return inv({ name: 'help' });
  if (s.version) return inv({ name: 'version' });
  if (name === undefined) throw new UsageError(s.tail ? "'--' needs the run command before it" : 'no command given');
  if (name.startsWith('-')) throw new UsageError(`unknown option '${name}'`);
  if (s.tail !== null && name !== 'run') throw new UsageError(`${name}: unexpected '--'`);
  switch (name) {
    case 'services': {
      const [service, ...more] = args;
      if (service === undefined) return inv({ name });
      const arg = serviceArg(name, service);
      noMore(name, more);
      return inv({ name, service: arg });
    }
    case 'state':
    case 'technologies':
    case 'sessions':
      noMore(name, args);
      return inv({ name });
    case 'enable':
    case 'disable': {
      const [tech, ...more] = args;
      if (tech === undefined) throw new UsageError(`${name}: expected a technology (${BEARERS.join(', ')})`);
      if (!(BEARERS as readonly string[]).includes(tech))
        throw new UsageError(`${name}: unknown technology '${tech}' (expected ${BEARERS.join(', ')})`);
      noMore(name, more);
      return inv({ name: 'power', technology: tech as Bearer, on: name === 'enable' });
    }
    case 'connect':
    case 'disconnect': {
      const [service, ...more] = args;
      const arg = serviceArg(name, service);
      noMore(name, more);
      return inv({ name: 'connect', service: arg, on: name === 'connect' });
    }
    case 'autoconnect': {
      const [service, value, ...more] = args;
      const arg = serviceArg(name, service);
      const on = onOff(name, value);
      noMore(name, more);
      return inv({ name: 'autoconnect', service: arg, on });
    }
    case 'offline': {
      const [value, ...more] = args;
      const on = onOff(name, value);
      noMore(name, more);
      return inv({ name: 'offline', on });
    }
    case 'session': {
      const [sub, ...more] = args;
      if (sub !== 'create')
        throw new UsageError(`session: expected 'create'${sub === undefined ? '' : `, got '${sub}'`}`);
      return inv({ name: 'session-create', ...sessionOptions('session create', more) });
    }
    case 'monitor': {
      let intervalMs = DEFAULT_MONITOR_INTERVAL_MS;
      for (let i = 0; i < args.length; i++) {
        if (args[i] !== '--interval') noMore(name, args.slice(i));
        const v = args[++i];
        const n = Number(v);
        if (v === undefined || !Number.isInteger(n) || n < 100 || n > 3_600_000)
          throw new UsageError('--interval needs a number of milliseconds (100 to 3600000)');
        intervalMs = n;
      }
      return inv({ name: 'monitor', intervalMs });
    }
    case 'run': {
      if (s.tail === null)
        throw new UsageError("run: missing '--' before the command (netsessionctl run [options] -- COMMAND [ARGS])");
      if (s.tail.length === 0) throw new UsageError("run: no command after '--'");
      return inv({ name: 'run', ...sessionOptions('run', args), argv: s.tail });
    }
    case 'stats': {
      const [path, ...more] = args;
      if (path !== undefined && !path.startsWith('/')) noMore(name, [path]);
      if (path !== undefined && !/^(\/[A-Za-z0-9_]+)+$/.test(path))
        throw new UsageError(`stats: '${path}' is not a session object path`);
      noMore(name, more);
      return inv({ name: 'stats', path: path ?? null });
    }
    default:
      throw new UsageError(`unknown command '${name}' (expected one of ${COMMANDS.join(', ')})`);
  }
}
