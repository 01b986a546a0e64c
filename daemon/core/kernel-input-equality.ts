/**
 * Equality of the kernel state's inputs and markings by value, for the memo's "did it change"
 * tests (kernel-state-memo.ts): an unchanged session or service keeps its previous objects.
 */

import type { KernelServiceInput, KernelSessionInput } from './kernel-state.js';
import type { ServiceMarking, SessionMarking } from './kernel-state-types.js';

function sameClaims(a: KernelSessionInput['claims'], b: KernelSessionInput['claims']): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i]!.kind !== b[i]!.kind || a[i]!.key !== b[i]!.key) return false;
  return true;
}

export function sameSessionInput(a: KernelSessionInput, b: KernelSessionInput): boolean {
  return (
    a === b ||
    (a.sessionKey === b.sessionKey &&
      a.serial === b.serial &&
      a.tag === b.tag &&
      a.priority === b.priority &&
      a.serviceId === b.serviceId &&
      a.sourceIPRule === b.sourceIPRule &&
      sameClaims(a.claims, b.claims))
  );
}

export function sameMarking(a: SessionMarking, b: SessionMarking): boolean {
  return a.sessionKey === b.sessionKey && a.tag === b.tag && sameServiceMarking(a, b);
}

export function sameServiceMarking(a: ServiceMarking, b: ServiceMarking): boolean {
  return (
    a.mark === b.mark &&
    a.ifname === b.ifname &&
    (a.snat === b.snat ||
      (a.snat.length === b.snat.length &&
        a.snat.every((n, i) => n.family === b.snat[i]!.family && n.address === b.snat[i]!.address)))
  );
}

export function sameServiceMarkings(a: readonly ServiceMarking[], b: readonly ServiceMarking[]): boolean {
  return a === b || (a.length === b.length && a.every((x, i) => sameServiceMarking(x, b[i]!)));
}

export function sameServiceInput(a: KernelServiceInput, b: KernelServiceInput): boolean {
  if (a === b) return true;
  const scalar =
    a.id === b.id &&
    a.ifindex === b.ifindex &&
    a.ifname === b.ifname &&
    a.table === b.table &&
    a.mark === b.mark &&
    a.slot === b.slot &&
    a.connected === b.connected &&
    a.sourceRules === b.sourceRules;
  return (
    scalar &&
    (a.addresses === b.addresses || JSON.stringify(a.addresses) === JSON.stringify(b.addresses)) &&
    (a.gateways === b.gateways || JSON.stringify(a.gateways) === JSON.stringify(b.gateways))
  );
}
