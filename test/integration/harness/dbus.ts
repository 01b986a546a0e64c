/**
 * A private system-type dbus-daemon per sandbox. Its socket is a file in the sandbox's temp dir,
 * reachable from every network namespace (unix sockets do not belong to one).
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Options for the private bus. */
export interface DbusOptions {
  /**
   * `open` (default): everyone may own any name and call anything — the daemon needs no policy file.
   * `system`: Debian's system-bus default policy (own and method calls denied unless a policy
   * file punches holes), to test the policy file the daemon ships.
   */
  policy?: 'open' | 'system';
  /** Absolute paths of extra policy files to `<include>` (e.g. the daemon's own bus policy). */
  include?: string[];
}

const OPEN_POLICY = `
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_type="method_call"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
  </policy>`;

// The default policy of /usr/share/dbus-1/system.conf (dbus 1.14), minus activation.
const SYSTEM_POLICY = `
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Properties"/>
    <deny send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus" send_member="UpdateActivationEnvironment"/>
    <deny send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Debug.Stats"/>
  </policy>
  <policy user="root">
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Monitoring"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Debug.Stats"/>
  </policy>`;

function xmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Where the bus lives and how to start it. */
export interface DbusSetup {
  socketPath: string;
  /** `unix:path=...` */
  address: string;
  configPath: string;
  /** argv for the daemon; it prints its address on stdout when it accepts connections. */
  argv: string[];
}

/** Writes the bus config into `dir` and returns the command that runs the bus in the foreground. */
export async function prepareDbus(dir: string, opts: DbusOptions = {}): Promise<DbusSetup> {
  const socketPath = join(dir, 'system_bus_socket');
  const configPath = join(dir, 'bus.conf');
  for (const file of opts.include ?? [])
    if (!file.startsWith('/')) throw new Error(`dbus include must be an absolute path: ${file}`);
  const includes = (opts.include ?? []).map((f) => `  <include>${xmlEscape(f)}</include>`).join('\n');
  const config = `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=${xmlEscape(socketPath)}</listen>
  <auth>EXTERNAL</auth>
${opts.policy === 'system' ? SYSTEM_POLICY : OPEN_POLICY}
${includes}
</busconfig>
`;
  await writeFile(configPath, config);
  return {
    socketPath,
    address: `unix:path=${socketPath}`,
    configPath,
    // Not forked: the harness keeps the PID itself and signals exactly that process.
    argv: ['dbus-daemon', `--config-file=${configPath}`, '--nofork', '--nopidfile', '--nosyslog', '--print-address=1'],
  };
}
