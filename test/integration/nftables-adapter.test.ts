/**
 * The nftables adapter against a real kernel, proven with real packets: the shared firewall
 * suite (suites/firewall-suite.ts) with `--backend nftables`.
 *
 * Needs root. Creates two system users (removed afterwards) and a cgroup (removed afterwards);
 * nothing networked happens outside the sandbox's namespaces.
 */
import { firewallSuite } from './suites/firewall-suite.js';

firewallSuite('nftables');
