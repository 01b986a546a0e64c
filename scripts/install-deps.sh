#!/usr/bin/env bash
# Installs the Debian packages tests and the demo need (systemd: for systemd-analyze, which
# scores the unit's sandboxing), without letting any package start a
# service in the root namespace (policy-rc.d answers 101 during the install). `connman` is
# installed only for connmanctl (compatibility tests); its daemon must never run outside a
# test namespace, which the check at the end enforces. man-db and groff-base render the man
# pages in their test; bash and zsh load the shell completion in theirs. binutils (readelf),
# musl and qemu-user check the native addon's builds for other targets
# (scripts/native-targets.mjs).
set -euo pipefail
PKGS="iproute2 dbus nftables iptables nfacct procps util-linux connman udhcpc dnsmasq-base ethtool curl busybox man-db groff-base bash zsh systemd strace binutils musl qemu-user"
missing=$(for p in $PKGS; do dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'install ok installed' || echo "$p"; done)
check_no_root_connmand() {
  # A connmand in the root namespace would take over this machine's network. If the install
  # started one (it should not: policy-rc.d), stop exactly that PID.
  local rootns pid
  # Some containers hide pid 1's namespace links; then this script's own namespace (the one the
  # demo and the tests run from) stands for the root one.
  rootns=$(readlink /proc/1/ns/net 2>/dev/null || readlink /proc/self/ns/net)
  for pid in $(pgrep -x connmand || true); do
    if [ "$(readlink "/proc/$pid/ns/net")" = "$rootns" ]; then
      echo "deps: connmand pid $pid runs in the root network namespace (started by the install?) - stopping it" >&2
      kill -TERM "$pid"
    fi
  done
}
if [ -z "$missing" ]; then
  echo "deps: all present ($PKGS)"
  check_no_root_connmand
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "deps: missing $missing and not root; install them and run again" >&2
  exit 1
fi
echo "deps: installing" $missing
PRC=/usr/sbin/policy-rc.d
BAK=""
if [ -e "$PRC" ]; then BAK=$(mktemp); cp -p "$PRC" "$BAK"; fi
restore() { if [ -n "$BAK" ]; then cp -p "$BAK" "$PRC"; rm -f "$BAK"; else rm -f "$PRC"; fi; }
trap restore EXIT
printf '#!/bin/sh\nexit 101\n' > "$PRC"
chmod +x "$PRC"
apt-get update -qq
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
echo "deps: installed" $missing
check_no_root_connmand
