// The gateway's own topics under <event_prefix>/ (DESIGN.md §6): run events go out on
// <prefix>/runs/<run_id>/<event>, external step results come in on <prefix>/runs/<run_id>/result.

/** How much of the gateway's namespace a subscription filter can see. */
export type Reach = 'outside' | 'inside' | 'overlaps';

export class GatewayTopics {
  /** "<prefix>/": every gateway topic starts with it. */
  readonly root: string;
  private readonly levels: readonly string[];

  constructor(prefix: string) {
    this.root = `${prefix}/`;
    this.levels = prefix.split('/');
  }

  /** A topic the gateway owns (never an event, guarded by the ACL). */
  owns(topic: string): boolean {
    return topic.startsWith(this.root);
  }

  runEvent(runId: string, kind: string): string {
    return `${this.root}runs/${runId}/${kind}`;
  }

  /** The run id of a `<prefix>/runs/<run_id>/result` topic, else null. */
  resultRunId(topic: string): string | null {
    if (!topic.startsWith(this.root)) return null;
    const rest = topic.slice(this.root.length);
    if (!rest.startsWith('runs/') || !rest.endsWith('/result')) return null;
    const id = rest.slice('runs/'.length, -'/result'.length);
    return id === '' || id.includes('/') ? null : id;
  }

  /**
   * Whether a filter can match topics under <prefix>/: 'inside' when it matches nothing
   * else (every prefix level is literal), 'overlaps' when wildcards let it match both
   * (`#`, `+/runs/#`), 'outside' when it can never match one (MQTT 3.1.1 §4.7 rules).
   */
  reach(filter: string): Reach {
    const parts = filter.split('/');
    let wildcard = false;
    for (let i = 0; i < this.levels.length; i++) {
      const part = parts[i];
      if (part === undefined) return 'outside';
      if (part === '#') return 'overlaps';
      if (part === '+') wildcard = true;
      else if (part !== this.levels[i]) return 'outside';
    }
    // The filter has covered "<prefix>"; a topic under "<prefix>/" needs one more level.
    if (parts.length === this.levels.length) return 'outside';
    return wildcard ? 'overlaps' : 'inside';
  }
}
