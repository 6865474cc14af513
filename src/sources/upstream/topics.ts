// The gateway's topics on the upstream broker, all under <prefix>/<gateway_id>/:
//   status                      retained birth ({"state":"online",...}) and will ({"state":"offline"})
//   runs/<run_id>/<event>       run events, from the outbox (QoS 1)
//   runs/<run_id>/approve       commands from the centre (QoS 1): approve, cancel, and
//   runs/<run_id>/cancel        an external step's result
//   runs/<run_id>/result
//   sops/<name>/execute         a manual trigger; the payload is the trigger's payload
//   forward/<local topic>       messages of the embedded broker mirrored up ([upstream] forward)
// Nothing under it is ever an event.
import { topicMatchesFilter } from '../../expressions/topic.js';

export type UpstreamCommand =
  | { kind: 'approve' | 'cancel'; runId: string }
  | { kind: 'result'; runId: string }
  | { kind: 'execute'; sop: string };

const RUN_COMMANDS: readonly string[] = ['approve', 'cancel', 'result'];

export class UpstreamTopics {
  /** "<prefix>/<gateway_id>/". */
  readonly root: string;
  readonly status: string;

  constructor(prefix: string, gatewayId: string) {
    this.root = `${prefix}/${gatewayId}/`;
    this.status = `${this.root}status`;
  }

  owns(topic: string): boolean {
    return topic.startsWith(this.root);
  }

  /** An outbox row's topic (`runs/<run_id>/<event>`) on the broker. */
  full(relative: string): string {
    return this.root + relative;
  }

  forwarded(localTopic: string): string {
    return `${this.root}forward/${localTopic}`;
  }

  /** What the gateway subscribes to for commands. */
  commandFilters(): string[] {
    return [...RUN_COMMANDS.map((c) => `${this.root}runs/+/${c}`), `${this.root}sops/+/execute`];
  }

  /** The command a topic under the root carries, else null. */
  command(topic: string): UpstreamCommand | null {
    if (!this.owns(topic)) return null;
    const [what, name, verb, ...more] = topic.slice(this.root.length).split('/');
    if (more.length > 0 || name === undefined || name === '') return null;
    if (what === 'sops' && verb === 'execute') return { kind: 'execute', sop: name };
    if (what !== 'runs' || verb === undefined || !RUN_COMMANDS.includes(verb)) return null;
    return { kind: verb as 'approve' | 'cancel' | 'result', runId: name };
  }
}

/**
 * Whether a received topic belongs to one of `filters`: a persistent session may still hold
 * subscriptions a former configuration made, and their messages are not events.
 * A shared subscription (`$share/<group>/<filter>`) receives its filter's topics.
 */
export function subscribedTo(filters: readonly string[], topic: string): boolean {
  return filters.some((f) => topicMatchesFilter(f.startsWith('$share/') ? f.split('/').slice(2).join('/') : f, topic));
}
