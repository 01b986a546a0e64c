/** The help text (`netsessionctl help`); docs/netsessionctl.md has the long form. */
export const USAGE = `usage: netsessionctl [--json] [--bus ADDRESS] COMMAND [ARGS]

commands:
  state                           the daemon's state and OfflineMode
  services                        the services (uplinks), in the daemon's order
  technologies                    the technologies and whether they are powered
  enable TECH | disable TECH      power a technology on or off (root)
  connect SERVICE                 bring a managed uplink up (root)
  disconnect SERVICE              take a managed uplink down (root)
  autoconnect SERVICE on|off      whether the daemon brings it up by itself (root)
  offline on|off                  OfflineMode on or off (root)
  sessions                        every session of every client (root)
  session create [SESSION-OPTS]   create a session and print its updates until Ctrl-C
  monitor [--interval MS]         services and sessions as they change, until Ctrl-C
  run [SESSION-OPTS] -- CMD ARGS  run CMD with all its traffic in a new session
  stats [SESSION-PATH]            per-session traffic counters (all sessions: root)
  help                            this text

SERVICE is a service's path, its id (ethernet_020000000001_cable) or its interface name.

session options:
  --bearers LIST      allowed bearers in order of preference, e.g. cellular,wifi or *
  --interface NAME    only this interface
  --type TYPE         any, local or internet (only uplinks whose online check passed)
  --source-ip-rule    also route by the session's source address
  --context TEXT      a context identifier shown to administrators
  --wait              wait (up to 30 s) until the session has an uplink

global options:
  --json              JSON output (JSON lines for session create and monitor)
  --bus ADDRESS       D-Bus address (default: $DBUS_SYSTEM_BUS_ADDRESS, else the system bus)
  --version           print the version and exit (alone)

exit status: 0 ok, 1 failure, 2 bad command line, 3 daemon or bus not available,
130 interrupted while setting up;
run exits with its command's status (125: the command could not enter the session's cgroup).`;
