/**
 * The iptables + NFACCT adapter (legacy kernels, `--firewall iptables`) against a real kernel,
 * proven with real packets: the shared firewall suite (suites/firewall-suite.ts) with
 * `--backend iptables`. It differs from the nftables run only where the backends legitimately do:
 * a gid held only as a supplementary group IS classified (`--suppl-groups`), and the number of
 * kernel changes edits take. Byte counts are expected to be identical.
 *
 * Needs root, iptables (iptables-legacy when installed) and nfacct (for the test's own look at
 * NFACCT objects). Creates two system users (removed afterwards) and a cgroup (removed
 * afterwards); nothing networked happens outside the sandbox's namespaces.
 */
import { firewallSuite } from './suites/firewall-suite.js';

firewallSuite('iptables');
