#!/bin/sh
# Hook that busybox udhcpc runs on every DHCP event (`-s`), with the lease in its environment.
# It configures nothing: netsessiond owns the interface. It hands the environment, unchanged, to
# the daemon on stdout (udhcpc itself logs only to stderr) as NUL-terminated NAME=VALUE entries;
# an empty entry ends the record. No option value is ever expanded, split or evaluated by a shell
# here, so a hostile server cannot inject commands, and NUL cannot occur inside an environment
# string, so it cannot forge a record boundary either.
env -0 NETSESSION_DHCP_EVENT="$1" || exit 0
printf '\000'
exit 0
