// The daemon binds its ports before it restores the active runs, so that a port in use
// stops start-up before any step runs again. A request or an MQTT message that arrives in
// between waits here: the engine must not see it before it knows its runs.

export class InboundGate {
  private state: 'holding' | 'open' | 'closed' = 'holding';
  private waiting: { handle: () => void; drop: () => void }[] = [];

  /** Runs `handle` now once open; until then keeps it, in order. `drop` if start-up fails instead. */
  pass(handle: () => void, drop: () => void = () => {}): void {
    if (this.state === 'open') handle();
    else if (this.state === 'holding') this.waiting.push({ handle, drop });
    else drop();
  }

  /** Start-up is done: what waited is handled, in arrival order. */
  open(): void {
    if (this.state !== 'holding') return;
    this.state = 'open';
    for (const w of this.take()) w.handle();
  }

  /** Start-up failed (or the daemon stops before it finished): what waited is dropped. */
  close(): void {
    if (this.state !== 'holding') return;
    this.state = 'closed';
    for (const w of this.take()) w.drop();
  }

  private take(): { handle: () => void; drop: () => void }[] {
    const waiting = this.waiting;
    this.waiting = [];
    return waiting;
  }
}
