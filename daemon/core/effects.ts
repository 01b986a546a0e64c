/**
 * What one engine call asks the outside world to do. The engine never performs I/O; adapters
 * read this value and act (send Updates, emit signals, reconcile the kernel, start checks).
 */
import type { Bearer } from '../../lib/protocol.js';
import type { Family } from './services.js';
import type { SettingsDelta } from './updates.js';

/** One `Notification.Update` to send. */
export interface SessionUpdate {
  path: string;
  owner: string;
  notifier: string;
  changes: SettingsDelta;
}

/** Start or stop the online check of one service family. */
export interface CheckRequest {
  serviceId: string;
  family: Family;
  op: 'start' | 'stop';
}

/** The accumulated result of an engine call. */
export interface Effects {
  updates: SessionUpdate[];
  /** Services added or whose properties changed. */
  changedServices: Set<string>;
  removedServices: string[];
  /** True when the service order or set changed (Manager.ServicesChanged is due). */
  servicesReordered: boolean;
  addedTechnologies: Bearer[];
  removedTechnologies: Bearer[];
  changedTechnologies: Set<Bearer>;
  /** Manager properties that changed (e.g. 'State', 'OfflineMode'). */
  managerChanged: Set<string>;
  /** The desired kernel state may differ: reconcile. */
  kernelDirty: boolean;
  checks: CheckRequest[];
  /** Problems worth logging that did not fail the call (e.g. allocation exhausted for a service). */
  warnings: string[];
  /** Sessions that ended, so the bus adapter can drop their objects. */
  destroyedSessions: string[];
  /** Persisted per-service flags (Favorite, AutoConnect) changed: save them. */
  settingsChanged: boolean;
}

/** A fresh, empty result. */
export function noEffects(): Effects {
  return {
    updates: [],
    changedServices: new Set(),
    removedServices: [],
    servicesReordered: false,
    addedTechnologies: [],
    removedTechnologies: [],
    changedTechnologies: new Set(),
    managerChanged: new Set(),
    kernelDirty: false,
    checks: [],
    warnings: [],
    destroyedSessions: [],
    settingsChanged: false,
  };
}
