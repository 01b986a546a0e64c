/**
 * Numbers from the kernel's rtnetlink headers (linux/netlink.h, linux/rtnetlink.h,
 * linux/socket.h) that the `netlink` package does not export, in one place for every
 * rtnetlink module.
 */

/** Message types. */
export const RTM = {
  NEWLINK: 16,
  DELLINK: 17,
  NEWADDR: 20,
  DELADDR: 21,
  GETADDR: 22,
  NEWROUTE: 24,
  DELROUTE: 25,
} as const;

/** Request flags. On a NEWROUTE notification REPLACE means it replaced a route with the same key. */
export const NLM_F_REPLACE = 0x100;
export const NLM_F_EXCL = 0x200;
export const NLM_F_CREATE = 0x400;
export const NLM_F_DUMP = 0x300;

export const AF_UNSPEC = 0;
export const AF_INET = 2;
export const AF_INET6 = 10;

export const RT_TABLE_MAIN = 254;
export const RTN_UNICAST = 1;
export const RTNH_F_ONLINK = 0x4;
export const RTPROT_RA = 9;
/** Protocol tag on every route, rule and address netsessiond adds ('n'); iproute2 shows `proto 110`. */
export const RTPROT_NETSESSION = 0x6e;

export const RT_SCOPE_UNIVERSE = 0;
export const RT_SCOPE_SITE = 200;
export const RT_SCOPE_LINK = 253;
export const RT_SCOPE_NOWHERE = 255;

/** Route types as the `netlink` package spells them → numbers (its dumps give names). */
export const RTN_BY_NAME: Readonly<Record<string, number>> = {
  UNSPEC: 0,
  UNICAST: 1,
  LOCAL: 2,
  BROADCAST: 3,
  ANYCAST: 4,
  MULTICAST: 5,
  BLACKHOLE: 6,
  UNREACHABLE: 7,
  PROHIBIT: 8,
  THROW: 9,
  NAT: 10,
  XRESOLVE: 11,
};
