/**
 * Numbers from the kernel's rtnetlink headers (linux/netlink.h, linux/rtnetlink.h,
 * linux/if_link.h, linux/if_addr.h, linux/fib_rules.h, linux/if_arp.h), in one place for every
 * rtnetlink module. Values are the uapi's; names drop the common prefix where a table groups them.
 */

/** Netlink protocol number of rtnetlink. */
export const NETLINK_ROUTE = 0;

/** Message types. */
export const RTM = {
  NEWLINK: 16,
  DELLINK: 17,
  GETLINK: 18,
  SETLINK: 19,
  NEWADDR: 20,
  DELADDR: 21,
  GETADDR: 22,
  NEWROUTE: 24,
  DELROUTE: 25,
  GETROUTE: 26,
  NEWRULE: 32,
  DELRULE: 33,
  GETRULE: 34,
} as const;

/** Request flags. On a NEWROUTE notification REPLACE means it replaced a route with the same key. */
export const NLM_F_REQUEST = 0x1;
export const NLM_F_MULTI = 0x2;
export const NLM_F_ACK = 0x4;
/** A dump's answer may be inconsistent (the table changed while it was being read): dump again. */
export const NLM_F_DUMP_INTR = 0x10;
export const NLM_F_REPLACE = 0x100;
export const NLM_F_EXCL = 0x200;
export const NLM_F_CREATE = 0x400;
export const NLM_F_DUMP = 0x300;

/** Multicast groups (RTNLGRP_*). */
export const RTNLGRP = { LINK: 1, IPV4_IFADDR: 5, IPV4_ROUTE: 7, IPV6_IFADDR: 9, IPV6_ROUTE: 11 } as const;

export const AF_UNSPEC = 0;
export const AF_INET = 2;
export const AF_INET6 = 10;

export const RT_TABLE_MAIN = 254;
export const RTN_UNICAST = 1;
/** rtm_flags: the route was added with `onlink`. */
export const RTNH_F_ONLINK = 0x4;
/** rtm_flags: a cache entry, not a configured route. */
export const RTM_F_CLONED = 0x200;
export const RTPROT_RA = 9;
/**
 * rtm_protocol / FRA_PROTOCOL / IFA_PROTO of everything netsessiond adds: 0x6e ('n'),
 * unassigned in linux/rtnetlink.h and /etc/iproute2/rt_protos, so iproute2 shows `proto 110`.
 */
export const RTPROT_NETSESSION = 0x6e;

export const RT_SCOPE_UNIVERSE = 0;
export const RT_SCOPE_SITE = 200;
export const RT_SCOPE_LINK = 253;
export const RT_SCOPE_NOWHERE = 255;

/** FR_ACT_TO_TBL: `lookup T`. */
export const FR_ACT_TO_TBL = 1;
/** fib_rule_hdr flags: `not`. */
export const FIB_RULE_INVERT = 0x2;

/** ifi_flags. */
export const IFF = { UP: 0x1, LOOPBACK: 0x8, SLAVE: 0x800, LOWER_UP: 0x10000 } as const;
export const IF_OPER_UP = 6;

/** ifa_flags / IFA_FLAGS. */
export const IFA_F = { SECONDARY: 0x01, DADFAILED: 0x08, TENTATIVE: 0x40, PERMANENT: 0x80 } as const;

/** Link attributes (IFLA_*). */
export const IFLA = {
  ADDRESS: 1,
  IFNAME: 3,
  MTU: 4,
  STATS: 7,
  MASTER: 10,
  WIRELESS: 11,
  OPERSTATE: 16,
  LINKINFO: 18,
  STATS64: 23,
} as const;
export const IFLA_INFO_KIND = 1;

/** Address attributes (IFA_*). */
export const IFA = { ADDRESS: 1, LOCAL: 2, FLAGS: 8, PROTO: 11 } as const;

/** Route attributes (RTA_*). */
export const RTA = {
  DST: 1,
  SRC: 2,
  IIF: 3,
  OIF: 4,
  GATEWAY: 5,
  PRIORITY: 6,
  PREFSRC: 7,
  MULTIPATH: 9,
  TABLE: 15,
  VIA: 18,
  ENCAP_TYPE: 21,
  ENCAP: 22,
  NH_ID: 30,
} as const;

/** Rule attributes (FRA_*). */
export const FRA = {
  DST: 1,
  SRC: 2,
  IIFNAME: 3,
  GOTO: 4,
  PRIORITY: 6,
  FWMARK: 10,
  FLOW: 11,
  TUN_ID: 12,
  SUPPRESS_IFGROUP: 13,
  SUPPRESS_PREFIXLEN: 14,
  TABLE: 15,
  FWMASK: 16,
  OIFNAME: 17,
  PAD: 18,
  L3MDEV: 19,
  UID_RANGE: 20,
  PROTOCOL: 21,
  IP_PROTO: 22,
  SPORT_RANGE: 23,
  DPORT_RANGE: 24,
} as const;

/** ARPHRD_* hardware types (ifi_type) the bearer logic tells apart (linux/if_arp.h). */
export const ARPHRD = {
  ETHER: 1,
  PPP: 512,
  RAWIP: 519,
  TUNNEL: 768,
  TUNNEL6: 769,
  LOOPBACK: 772,
  SIT: 776,
  IPGRE: 778,
  IEEE80211: 801,
  IEEE80211_RADIOTAP: 803,
  PHONET_PIPE: 821,
  IP6GRE: 823,
  NONE: 65534,
} as const;
