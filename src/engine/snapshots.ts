// A run keeps the SOP definition it started with: the definition is stored once per
// distinct content (by hash) and runs refer to it.
import { createHash } from 'node:crypto';
import type { SopDefinition } from '../sop/types.js';

export interface Snapshot {
  hash: string;
  json: string;
}

export class Snapshots {
  /** Hash and JSON per loaded definition object, computed once per load. */
  private readonly bySop = new WeakMap<SopDefinition, Snapshot>();
  private readonly inStore = new Set<string>();

  of(sop: SopDefinition): Snapshot {
    let snapshot = this.bySop.get(sop);
    if (snapshot === undefined) {
      const json = JSON.stringify(sop);
      snapshot = { hash: createHash('sha256').update(json).digest('hex').slice(0, 32), json };
      this.bySop.set(sop, snapshot);
    }
    return snapshot;
  }

  isStored(hash: string): boolean {
    return this.inStore.has(hash);
  }

  stored(hash: string): void {
    this.inStore.add(hash);
  }
}
