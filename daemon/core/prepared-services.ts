/**
 * The services half of the kernel-state memo (kernel-state-memo.ts): each service prepared again
 * only when its input changed (canonical global addresses, table routes), the connected ones in
 * input order as computeKernelState iterates them, and the firewall's view of them, which stays
 * the same array while it does not change (adapters compare it by pointer first). Services are
 * few; a session create or destroy passes them through unchanged at the cost of one comparison
 * per service.
 */

import { sameServiceInput, sameServiceMarkings } from './kernel-input-equality.js';
import { connectedServices, type KernelServiceInput, type PreparedService, serviceMarkingsOf } from './kernel-state.js';
import type { ServiceMarking } from './kernel-state-types.js';

export class PreparedServices {
  #services = new Map<string, { input: KernelServiceInput; prepared: PreparedService | undefined }>();
  #connected = new Map<string, PreparedService>();
  #marks: ServiceMarking[] = [];

  /** Connected services by id, in input order. */
  get connected(): ReadonlyMap<string, PreparedService> {
    return this.#connected;
  }

  /** The firewall's connected services by mark (the same array until one of them changes). */
  get marks(): ServiceMarking[] {
    return this.#marks;
  }

  clear(): void {
    this.#services.clear();
    this.#connected = new Map();
    this.#marks = [];
  }

  /** Takes the services; returns the ids whose prepared form changed (appeared, went, changed). */
  take(services: readonly KernelServiceInput[]): string[] {
    const next = new Map<string, { input: KernelServiceInput; prepared: PreparedService | undefined }>();
    const fresh: KernelServiceInput[] = [];
    for (const svc of services) {
      const had = this.#services.get(svc.id);
      if (had && sameServiceInput(had.input, svc)) next.set(svc.id, had);
      else fresh.push(svc);
    }
    const changed: string[] = [];
    const prepared = fresh.length ? connectedServices(fresh) : null;
    for (const svc of fresh) {
      const p = prepared!.get(svc.id);
      next.set(svc.id, { input: svc, prepared: p });
      if (this.#services.get(svc.id)?.prepared !== p) changed.push(svc.id);
    }
    for (const [id, had] of this.#services) if (!next.has(id) && had.prepared) changed.push(id);
    this.#services = next;
    this.#connected = new Map();
    for (const svc of services) {
      const p = next.get(svc.id)?.prepared;
      if (p) this.#connected.set(svc.id, p);
    }
    if (changed.length) {
      const marks = serviceMarkingsOf(this.#connected);
      if (!sameServiceMarkings(marks, this.#marks)) this.#marks = marks;
    }
    return changed;
  }
}
