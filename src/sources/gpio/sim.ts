// The simulated backend: lines in memory. Inputs are driven by set() (the HTTP API and
// `sopgate sim` reach it through GpioBoard); outputs remember what was written, so tests
// and operators can see what a SOP would have done to the hardware.
import type { Level } from '../../config/board-profile.js';
import { reportAll, type BackendContext, type BackendLines, type GpioBackend, type WriteResult } from './backend.js';

/** How many writes each output keeps. */
export const SIM_WRITES_KEPT = 100;

export interface SimWrite {
  level: Level;
  at: string;
}

export class SimBackend implements GpioBackend {
  readonly name = 'sim';
  private readonly levels = new Map<string, Level>();
  private readonly writes = new Map<string, SimWrite[]>();
  private running = false;

  constructor(
    private readonly lines: BackendLines,
    private readonly ctx: BackendContext,
  ) {}

  async start(): Promise<void> {
    for (const input of this.lines.inputs) {
      this.levels.set(input.signal, input.rest);
      this.ctx.sink.level(input.signal, input.rest);
    }
    for (const output of this.lines.outputs) {
      this.levels.set(output.signal, output.level);
      this.writes.set(output.signal, []);
    }
    this.running = true;
    reportAll(this.ctx.sink, [...this.levels.keys()], 'up', null);
  }

  async stop(): Promise<void> {
    this.running = false;
  }

  /** Drives an input to a physical level: an edge only when the level changes. */
  set(signal: string, level: Level): WriteResult {
    if (!this.lines.inputs.some((i) => i.signal === signal)) return { ok: false, error: `"${signal}" is not a gpio_in of board "${this.lines.board}"` };
    if (!this.running) return { ok: false, error: `board "${this.lines.board}" is not running` };
    if (this.levels.get(signal) !== level) {
      this.levels.set(signal, level);
      this.ctx.sink.edge(signal, level);
    }
    return { ok: true };
  }

  async write(signal: string, level: Level): Promise<WriteResult> {
    const writes = this.writes.get(signal);
    if (writes === undefined) return { ok: false, error: `"${signal}" is not a gpio_out of board "${this.lines.board}"` };
    if (!this.running) return { ok: false, error: `board "${this.lines.board}" is not running` };
    this.levels.set(signal, level);
    writes.push({ level, at: new Date(this.ctx.clock.now()).toISOString() });
    if (writes.length > SIM_WRITES_KEPT) writes.splice(0, writes.length - SIM_WRITES_KEPT);
    return { ok: true };
  }

  /** The physical level of a line, or null for a signal this board does not have. */
  level(signal: string): Level | null {
    return this.levels.get(signal) ?? null;
  }

  /** An output's last writes, oldest first (physical levels). */
  written(signal: string): readonly SimWrite[] {
    return this.writes.get(signal) ?? [];
  }
}
