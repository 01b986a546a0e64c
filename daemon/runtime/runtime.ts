/**
 * The runtime: owns the engine, feeds it events from the ports (links, policy and provisioning
 * files; bus calls arrive through the DaemonApi facade it extends), and starts and stops it all.
 * It names no concrete adapter: daemon/main.ts hands them in (deps.ts).
 *
 * The folder, one role per file: effects-carrier.ts carries out the engine's Effects and holds
 * the parts; kernel-sync.ts keeps the kernel in step; daemon-api.ts and extension-api.ts answer
 * the D-Bus adapter; property-signals.ts, service-counters.ts, statistics-signals.ts,
 * online-runner.ts, saved-settings.ts and manage-sync.ts (with dhcp-clients.ts) each serve one
 * kind of effect.
 */
import type { Effects } from '../core/effects.js';
import { PolicyParseError, ProvisioningError } from '../core/errors.js';
import type { LinkEvent } from '../ports.js';
import { RuntimeApi } from './daemon-api.js';
import type { RuntimeDeps } from './deps.js';

export class Runtime extends RuntimeApi {
  readonly #d: RuntimeDeps;
  #reconcileTimer: { cancel(): void } | null = null;

  constructor(deps: RuntimeDeps) {
    super(deps);
    this.#d = deps;
  }

  /** Loads saved settings, policy and provisioning files and the initial link dump, then follows events. */
  async start(): Promise<void> {
    const fx = this.fx;
    await fx.settings.restore();
    if (this.#d.policies) await this.#d.policies.start((file, text) => this.#policyFile(file, text));
    await this.#d.provisioning?.start((file, text) => this.#provisioningFile(file, text));
    if (fx.manage) await this.#d.manage?.links.start();
    const facts = await this.#d.links.start((e) => this.#linkEvent(e));
    for (const f of facts) fx.apply(this.engine.linkChanged(f));
    fx.manage?.request(true);
    // Even with nothing to install, the first pass removes or adopts what a crashed run left.
    this.reconcileNow(true);
    this.#scheduleReconcile();
    this.#d.log('info', `ready: ${this.readyLine()}`);
  }

  /** Online checks that fall due wait until {@link releaseOnlineChecks} (main.ts: over the start, until READY=1). */
  holdOnlineChecks(): void {
    this.fx.runner.hold();
  }

  /** Starts the online checks held since {@link holdOnlineChecks}. */
  releaseOnlineChecks(): void {
    this.fx.runner.release();
  }

  /** One line for humans on the daemon's state (the log's `ready:` line, systemd's STATUS=). */
  readyLine(): string {
    return `${this.engine.services().length} services, ${this.engine.policyFiles().length} policy files`;
  }

  /** Sends Release to every session's client (as ConnMan does at shutdown), then stops everything. */
  async stop(): Promise<void> {
    const fx = this.fx;
    // No reconcile runs from here on (Updates waiting for one are released).
    const kernelStopped = fx.kernel.stop();
    for (const s of this.engine.sessions()) this.#d.events.release(s.owner, this.engine.session(s.path).notifier);
    fx.counters.stop();
    fx.statsSignals?.stop();
    fx.runner.stopAll();
    this.#reconcileTimer?.cancel();
    this.#reconcileTimer = null;
    if (fx.manage) {
      await fx.manage.stop(this.engine.managePlan().links.map((l) => l.ifindex));
      this.#d.manage?.links.stop();
    }
    await this.#d.provisioning?.stop();
    await this.#d.policies?.stop();
    await this.#d.links.stop();
    await fx.settings.written;
    await kernelStopped;
    await this.#d.firewall?.clear();
    await this.#d.routing?.clear();
  }

  /** Reconciles the kernel with the desired state now; `verify` reads everything back first. */
  reconcileNow(verify = false): void {
    this.fx.kernel.request(verify);
    if (verify) this.fx.manage?.request(true);
  }

  /** Resolves when the kernel matches the engine's desired state as of this call. */
  async kernelSettled(): Promise<void> {
    await this.fx.kernel.settled();
  }

  #scheduleReconcile(): void {
    const ms = this.#d.reconcileIntervalMs ?? 0;
    if (ms <= 0) return;
    this.#reconcileTimer = this.#d.clock.setTimeout(() => {
      this.fx.kernel.request(true);
      this.fx.manage?.request(true);
      this.#scheduleReconcile();
    }, ms);
  }

  #linkEvent(e: LinkEvent): void {
    // Before apply(), which may start a reconcile at once.
    this.fx.kernel.routingMayHaveChanged();
    this.fx.apply(e.type === 'link' ? this.engine.linkChanged(e.facts) : this.engine.linkRemoved(e.ifindex));
    // The kernel may have dropped routes of ours on its own (IPv4 routes go with a link's
    // carrier), which the plan cannot show: re-read the managed links. Observed links' events
    // need no such pass (a plan change still gets one through apply()).
    if (e.type === 'link-removed' || this.engine.manage.isManaged({ ifname: e.facts.name }))
      this.fx.manage?.request(true);
  }

  #provisioningFile(file: string, text: string | null): void {
    this.#keyFile('provisioning', file, text, ProvisioningError, () =>
      text === null ? this.engine.removeProvisioning(file) : this.engine.loadProvisioning(file, text),
    );
  }

  #policyFile(file: string, text: string | null): void {
    this.#keyFile('policy', file, text, PolicyParseError, () =>
      text === null ? this.engine.removePolicy(file) : this.engine.loadPolicy(file, text),
    );
  }

  /** A policy or provisioning file changed; a malformed one is logged and its previous version stays. */
  #keyFile(
    kind: string,
    file: string,
    text: string | null,
    parseError: new (...args: never[]) => Error,
    change: () => Effects,
  ): void {
    try {
      this.fx.apply(change());
      this.#d.log('info', `${kind} ${file} ${text === null ? 'removed' : 'loaded'}`);
    } catch (err) {
      if (!(err instanceof parseError)) throw err;
      this.#d.log('error', `${kind} rejected, previous version kept: ${err.message}`);
    }
  }
}
