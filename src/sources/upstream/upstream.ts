// The upstream MQTT connection as a source and a sink: messages on the `subscribe` filters
// become `mqtt` GatewayEvents (handed to the one dispatcher, like the embedded broker's);
// commands on the gateway's own topics go to the engine through `onCommand`, acknowledged
// (PUBACK) once handled, so a command the broker delivered is never lost to a crash; run
// events go up from the outbox; the retained status says whether the gateway is online.
// The gateway's own messages never come back as events: every subscription is No Local,
// nothing under <prefix>/<gateway_id>/ is an event, and only topics of the configured
// filters are (a persistent session may hold subscriptions of an earlier configuration).
import type { UpstreamConfig } from '../../config/upstream.js';
import type { Clock } from '../../core/clock.js';
import type { GatewayEvent } from '../../core/events.js';
import type { Logger } from '../../core/log.js';
import type { Metric } from '../../core/prometheus.js';
import { parseStepResult, type ReportedResult } from '../../core/run.js';
import { isoTime } from '../../core/time.js';
import type { OutboxStore } from '../../store/outbox.js';
import { UpstreamConnection } from './connection.js';
import { OutboxPublisher } from './publisher.js';
import { subscribedTo, UpstreamTopics } from './topics.js';

/** A command from the centre, checked. */
export type UpstreamRequest =
  | { kind: 'approve' | 'cancel'; runId: string }
  | { kind: 'result'; runId: string; result: ReportedResult }
  | { kind: 'execute'; sop: string; payload: string };

export interface UpstreamDeps {
  config: UpstreamConfig;
  /** The largest message the broker may send the gateway. */
  maxPacketBytes: number;
  outbox: OutboxStore;
  clock: Clock;
  logger: Logger;
  /** What the birth message tells about the gateway. */
  birth: () => { version: string; sops: string[]; started_at: string };
  onEvent: (event: GatewayEvent) => void;
  /** Resolves once the command is handled: its change durable, or its refusal logged. */
  onCommand: (request: UpstreamRequest) => Promise<void>;
}

/** The upstream's state for GET /api/status and `sopgate status`. */
export interface UpstreamStatus {
  url: string;
  gateway_id: string;
  connected: boolean;
  /** Since when it is connected, or disconnected. */
  since: string | null;
  last_error: string | null;
  outbox_messages: number;
  sent_total: number;
  dropped_total: number;
}

export class Upstream {
  private readonly topics: UpstreamTopics;
  private readonly connection: UpstreamConnection;
  private readonly publisher: OutboxPublisher;
  private readonly log: Logger;

  constructor(private readonly deps: UpstreamDeps) {
    const c = deps.config;
    this.log = deps.logger;
    this.topics = new UpstreamTopics(c.prefix, c.gateway_id);
    this.publisher = new OutboxPublisher(deps.outbox, this.topics, deps.logger);
    this.connection = new UpstreamConnection({
      config: c,
      maxPacketBytes: deps.maxPacketBytes,
      topics: this.topics,
      filters: () => [...c.subscribe, ...this.topics.commandFilters()],
      clock: deps.clock,
      logger: deps.logger,
      birth: () => this.birth(),
      onUp: (link) => this.publisher.attach(link),
      onDown: () => this.publisher.detach(),
      onMessage: (topic, payload, retained, done) => this.received(topic, payload, retained, done),
    });
  }

  start(): void {
    this.log.log('info', `upstream ${this.deps.config.url} as ${this.deps.config.gateway_id}: ${this.deps.outbox.size} run event(s) in the outbox`);
    this.connection.start();
  }

  /** Says offline (retained) and closes; what is left in the outbox goes after the next start. */
  async stop(): Promise<void> {
    // The offline status goes after the run events in flight: once it is acknowledged, so are they.
    await this.connection.stop();
    this.publisher.stop();
  }

  /** A message of the gateway itself (the mqtt_publish tool when there is no embedded broker). */
  publish(topic: string, payload: string, options: { qos: 0 | 1 | 2; retain: boolean }): Promise<void> {
    if (this.topics.owns(topic)) return Promise.reject(new Error(`topics under ${this.topics.root} belong to the gateway`));
    return this.connection.publish(topic, payload, options);
  }

  /** A message of the embedded broker: mirrored up, at most once, if a `forward` filter takes it and the broker is there. */
  forward(topic: string, payload: string): void {
    const filters = this.deps.config.forward;
    if (filters.length === 0 || !this.connection.connected || !subscribedTo(filters, topic)) return;
    this.connection.publish(this.topics.forwarded(topic), payload, { qos: 0, retain: false }).catch(() => {});
  }

  /** The SOPs changed (a reload): the retained birth message says so. */
  birthChanged(): void {
    if (!this.connection.connected) return;
    this.connection.publish(this.topics.status, this.birth(), { qos: 1, retain: true }).catch(() => {});
  }

  status(): UpstreamStatus {
    const c = this.connection;
    return {
      url: this.deps.config.url,
      gateway_id: this.deps.config.gateway_id,
      connected: c.connected,
      since: c.since === null ? null : isoTime(c.since),
      last_error: c.lastError,
      outbox_messages: this.deps.outbox.size,
      sent_total: this.publisher.sent,
      dropped_total: this.dropped(),
    };
  }

  metrics(): Metric[] {
    return [
      { name: 'sopgate_upstream_connected', help: 'Whether the upstream MQTT connection is up.', type: 'gauge', samples: [{ value: this.connection.connected ? 1 : 0 }] },
      { name: 'sopgate_upstream_outbox_messages', help: 'Run events in the outbox, waiting for the upstream broker.', type: 'gauge', samples: [{ value: this.deps.outbox.size }] },
      { name: 'sopgate_upstream_sent_total', help: 'Run events the upstream broker acknowledged.', type: 'counter', samples: [{ value: this.publisher.sent }] },
      {
        name: 'sopgate_upstream_dropped_total',
        help: 'Run events dropped: the oldest beyond outbox_max_messages, and those the broker refused.',
        type: 'counter',
        samples: [{ value: this.dropped() }],
      },
    ];
  }

  private dropped(): number {
    return this.deps.outbox.dropped + this.publisher.refused;
  }

  private birth(): string {
    return JSON.stringify({ state: 'online', ...this.deps.birth() });
  }

  private received(topic: string, payload: Buffer, retained: boolean, done: () => void): void {
    // A broker sets the flag only on a retained message it sends for a new subscription
    // [MQTT-3.3.1-9]: state from before, not something that happens now.
    if (retained) {
      this.log.log('debug', `retained message on ${topic} ignored: not an event`);
      done();
      return;
    }
    const text = payload.toString('utf8');
    if (this.topics.owns(topic)) {
      const request = this.request(topic, text);
      if (request === null) {
        done();
        return;
      }
      this.deps.onCommand(request).then(done, (err: unknown) => {
        this.log.log('error', `${request.kind} from upstream: ${String(err)}`);
        done();
      });
      return;
    }
    if (subscribedTo(this.deps.config.subscribe, topic)) {
      this.deps.onEvent({ source: 'mqtt', topic, payload: text, timestamp: isoTime(this.deps.clock.now()) });
    } else {
      this.log.log('debug', `message on ${topic} ignored: no [upstream] subscribe filter takes it`);
    }
    done();
  }

  /** A command on the gateway's topics, checked; null (logged) when it is none or malformed. */
  private request(topic: string, payload: string): UpstreamRequest | null {
    const c = this.topics.command(topic);
    if (c === null) {
      this.log.log('debug', `message on ${topic} ignored: not a command`);
      return null;
    }
    if (c.kind === 'execute') return { kind: 'execute', sop: c.sop, payload };
    if (c.kind !== 'result') return c;
    const result = parseStepResult(payload);
    if (typeof result === 'string') {
      this.log.log('warn', `result from upstream for run ${c.runId} ignored: ${result}`);
      return null;
    }
    return { kind: 'result', runId: c.runId, result };
  }
}
