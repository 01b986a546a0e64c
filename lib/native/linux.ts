/**
 * Linux socket constants (x86_64/arm64/armv7 share these values) for the few sockets made through
 * libc (lib/native/libc.ts): one table instead of a copy per socket kind.
 */
export const AF_UNIX = 1;
export const AF_INET = 2;
export const AF_INET6 = 10;
export const AF_NETLINK = 16;
export const AF_PACKET = 17;
export const SOCK_STREAM = 1;
export const SOCK_DGRAM = 2;
export const SOCK_RAW = 3;
export const SOCK_NONBLOCK = 0o4000;
export const SOCK_CLOEXEC = 0o2000000;
export const SOL_SOCKET = 1;
export const SOL_NETLINK = 270;
export const SOL_PACKET = 263;
export const SO_SNDBUF = 7;
export const SO_RCVBUF = 8;
export const SO_RCVTIMEO = 20;
export const SO_SNDBUFFORCE = 32;
export const SO_RCVBUFFORCE = 33;
export const SO_BINDTODEVICE = 25;
export const SO_ATTACH_FILTER = 26;
/** Linux ≥ 5.0; immune to a rename between the daemon's snapshot and the probe. */
export const SO_BINDTOIFINDEX = 62;
export const MSG_DONTWAIT = 0x40;
export const MSG_TRUNC = 0x20;
