// The gateway's own topics under <event_prefix>/ (docs/mqtt.md): run events go out on
// <prefix>/runs/<run_id>/<event>; clients send commands on <prefix>/runs/<run_id>/<command>:
// `result` (an external step's result), `approve` and `cancel`.
import { topicMatchesFilter } from '../../expressions/topic.js';

export const RUN_COMMANDS = ['result', 'approve', 'cancel'] as const;
export type RunCommand = (typeof RUN_COMMANDS)[number];

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

  /** A `<prefix>/runs/<run_id>/step` topic: an external step's context, which only the gateway publishes. */
  isStepContext(topic: string): boolean {
    if (!topic.startsWith(this.root) || !topic.endsWith('/step')) return false;
    const parts = topic.slice(this.root.length).split('/');
    return parts.length === 3 && parts[0] === 'runs' && parts[1] !== '';
  }

  /** Whether `filter` can match `<prefix>/runs/<some run id>/<kind>` (a filter naming one run counts). */
  receives(filter: string, kind: string): boolean {
    const parts = filter.split('/');
    const runIdLevel = this.levels.length + 1;
    if (parts[runIdLevel] !== undefined && parts[runIdLevel] !== '#') parts[runIdLevel] = '+';
    return topicMatchesFilter(parts.join('/'), this.runEvent('run', kind));
  }

  /** The run id and command of a `<prefix>/runs/<run_id>/<command>` topic, else null. */
  command(topic: string): { runId: string; command: RunCommand } | null {
    if (!topic.startsWith(this.root)) return null;
    const parts = topic.slice(this.root.length).split('/');
    const [runs, runId, command] = parts;
    if (parts.length !== 3 || runs !== 'runs' || runId === undefined || runId === '') return null;
    return (RUN_COMMANDS as readonly string[]).includes(command ?? '') ? { runId, command: command as RunCommand } : null;
  }

  /** The run id of a `<prefix>/runs/<run_id>/result` topic, else null. */
  resultRunId(topic: string): string | null {
    const c = this.command(topic);
    return c?.command === 'result' ? c.runId : null;
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
