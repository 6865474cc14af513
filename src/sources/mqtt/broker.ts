// The embedded MQTT broker (aedes over node:net; docs/mqtt.md): local sensors publish to
// it, every client publish becomes an `mqtt` GatewayEvent, run events go out on
// <prefix>/runs/<run_id>/<event>, and external step results come in on .../result.
//
// The hot path is aedes' own authorizePublish and published hooks: one prefix check,
// one toString of the payload and a synchronous onEvent call per message; nothing else.
// `published` runs once aedes has handed the message to its subscribers, so the gateway
// never delays delivery, and only for client messages: the broker's own publishes (run
// events, $SYS/, the mqtt_publish tool) have no client and never become events. A
// message's delivery to subscribers does not wait for any of them to read (outbox.ts).
// While the gateway is behind (`whenReady`), a publisher's next packets are not read.
import type { AddressInfo } from 'node:net';
import { createServer, type Server } from 'node:net';
import mqttPacket from 'mqtt-packet';
import { Aedes, type AedesPublishPacket, type Client, type PublishPacket } from 'aedes';
import { BROKER_LIMITS, type MqttUser } from '../../config/config.js';
import { isLoopbackHost } from '../../core/listen.js';
import { parseStepResult, type RunEvent, type StepStatus } from '../../core/run.js';
import type { GatewayEvent } from '../../core/events.js';
import type { Logger } from '../../core/log.js';
import { Access } from './access.js';
import { boundDeliveries, boundPersistence, boundSessionQueues, detachDeliveries, distinctPubrels, storeRetained } from './aedes-internals.js';
import { ConnectionGate } from './connections.js';
import { Gatekeeper, Refusal, remote } from './gatekeeper.js';
import { listenAddress } from '../../core/listen.js';
import { MemoryCaps } from './memory-caps.js';
import { Outbox } from './outbox.js';
import { RunEventSubscribers, runEventPacket } from './run-events.js';
import { SessionQueues } from './session-queues.js';
import { GatewayTopics } from './topics.js';
import { errorMessage } from '../../core/errors.js';
import { isoTime } from '../../core/time.js';

/** [mqtt] max_queued_*, max_inflight_bytes and max_retained_* (config.ts has the defaults). */
export type BrokerLimits = { [K in keyof typeof BROKER_LIMITS]: number };

/** Who sent an MQTT command, for the audit ledger. */
export interface CommandSender {
  clientId: string;
  /** The [[mqtt.users]] name it logged in with; null when anonymous. */
  username: string | null;
}

export interface BrokerDeps {
  listen: string;
  eventPrefix: string;
  maxPacketBytes: number;
  maxConnections: number;
  users: readonly MqttUser[];
  limits?: Partial<BrokerLimits>;
  logger: Logger;
  onEvent: (event: GatewayEvent) => void;
  /**
   * Called after each client message has been handed on, with what lets the broker read
   * that client's next packets: a gateway that falls behind calls it later, and the
   * client's socket is not read meanwhile. Default: at once.
   */
  whenReady?: (readMore: () => void) => void;
  onResult: (runId: string, result: { status: StepStatus; output: string }, sender: CommandSender) => void;
  /** `<prefix>/runs/<run_id>/approve` and `.../cancel` from a client allowed to send them. */
  onCommand?: (runId: string, command: 'approve' | 'cancel', sender: CommandSender) => void;
  now?: () => Date;
}

export interface BrokerStats {
  /** PUBLISH packets from clients that reached the broker (gateway topics included). */
  messagesIn: number;
  eventsEmitted: number;
  /** External step results handed to onResult. */
  results: number;
  authFailures: number;
  /** Publishes and subscriptions refused by the ACL. */
  denied: number;
  /** Connections cut for an oversize packet, and malformed result messages. */
  dropped: number;
  /** Connections refused beyond max_connections. */
  refusedConnections: number;
  /** Client, listener and broker errors. */
  errors: number;
  /** QoS 0 messages not sent to a client that had max_queued_* waiting already. */
  queueDropped: number;
  /** Clients disconnected because a QoS 1/2 message found max_queued_* waiting. */
  queueDisconnects: number;
  /** QoS 1/2 messages not kept for a persistent session whose client was away, past max_queued_*. */
  offlineDropped: number;
  /** QoS 1/2 messages kept for persistent sessions until their clients acknowledge them, and their bytes. */
  sessionMessages: number;
  sessionBytes: number;
  /** Clients disconnected for holding max_inflight_bytes of unreleased QoS 2 messages. */
  inflightDisconnects: number;
  /** Messages not retained for max_retained_* (delivered all the same). */
  retainedRefused: number;
  /** Retained messages and their bytes under the caps (the gateway's step contexts aside). */
  retainedMessages: number;
  retainedBytes: number;
}

export class EmbeddedBroker {
  private aedes: Aedes | null = null;
  private server: Server | null = null;
  private readonly gate: ConnectionGate;
  private readonly topics: GatewayTopics;
  private readonly access: Access;
  private readonly gatekeeper: Gatekeeper;
  private readonly outbox: Outbox;
  private readonly memory: MemoryCaps;
  private readonly sessions: SessionQueues;
  private readonly subscribers: RunEventSubscribers;
  /** Runs whose external step context is retained on <prefix>/runs/<id>/step. */
  private readonly retainedSteps = new Set<string>();
  private readonly log: Logger;
  private readonly counts = { messagesIn: 0, eventsEmitted: 0, results: 0, dropped: 0, errors: 0 };

  constructor(private readonly deps: BrokerDeps) {
    this.gate = new ConnectionGate(deps.maxConnections, deps.maxPacketBytes, deps.logger);
    this.topics = new GatewayTopics(deps.eventPrefix);
    this.access = new Access(deps.users, this.topics);
    this.log = deps.logger;
    this.gatekeeper = new Gatekeeper(this.access, this.topics, this.log, (message) => this.fail(message));
    const limits: BrokerLimits = { ...BROKER_LIMITS, ...deps.limits };
    this.outbox = new Outbox(limits, this.log);
    this.sessions = new SessionQueues(limits, this.log);
    this.memory = new MemoryCaps(limits, (topic) => this.topics.isStepContext(topic), this.log, (message) => new Refusal(message));
    this.subscribers = new RunEventSubscribers(this.topics);
  }

  async start(): Promise<{ host: string; port: number }> {
    const { host, port } = listenAddress(this.deps.listen);
    // mqtt-packet writes a packet's 2-byte numbers from a cache of all 65,536 of them, built
    // when the first packet goes out: 65,536 Buffers that delay the first client's CONNACK
    // and stay in RSS for good (docs/performance.md). A 2-byte Buffer per number written instead.
    mqttPacket.writeToStream.cacheNumbers = false;
    const aedes = await Aedes.createBroker({
      preConnect: (client, packet, done) => {
        if (this.gate.isOversized(client.conn)) return done(null, false);
        const refused = this.gatekeeper.connect(client, packet);
        if (refused !== null) return done(refused, false);
        boundDeliveries(client, this.outbox);
        done(null, true);
      },
      authenticate: (client, username, password, done) =>
        this.gatekeeper.authenticate(client, username, password, (err, ok) => {
          if (ok === true) this.sessionArrived(client);
          done(err, ok);
        }),
      authorizePublish: (client, packet, done) => done(this.authorizePublish(client, packet)),
      authorizeSubscribe: (client, sub, done) => {
        const granted = this.gatekeeper.subscribe(client, sub);
        if (granted instanceof Error) return done(granted, null);
        if (granted !== null && this.access.of(client) !== 'none') this.subscribers.add(client, granted.topic);
        done(null, granted);
      },
      // Only installed when some user may not read gateway topics: otherwise aedes' default.
      ...(this.access.filtersDelivery
        ? { authorizeForward: (client: Client, packet: AedesPublishPacket) => (this.access.mayReceive(client, packet.topic) ? packet : null) }
        : {}),
      // aedes parses a client's next packets only once `done` of each publish in its last
      // read has been called: holding it keeps the socket unread, and TCP's flow control
      // then holds a flood in the sender and the kernel, not in this process.
      published: (packet, client: Client | null, done) => {
        if (client === null) return done(null);
        this.fromClient(packet, client);
        if (this.deps.whenReady === undefined) done(null);
        else this.deps.whenReady(() => done(null));
      },
    });
    detachDeliveries(aedes);
    boundPersistence(aedes, this.memory);
    distinctPubrels(aedes);
    boundSessionQueues(aedes, this.sessions);
    // 'error' is missing from aedes' typed events; an unhandled one would kill the daemon.
    (aedes as unknown as NodeJS.EventEmitter).on('error', (err: Error) => this.fail(`broker: ${err.message}`));
    aedes.on('clientError', (client, err) => this.clientError(client, err));
    aedes.on('connectionError', (client, err) => this.clientError(client, err));
    aedes.on('client', (client) => this.log.log('debug', `client ${client.id} connected from ${remote(client)}`));
    aedes.on('clientDisconnect', (client) => {
      // Its subscriptions are gone from the emitter by now: from here its session is away.
      this.sessions.left(client);
      this.subscribers.forget(client);
      this.log.log('debug', `client ${client.id} disconnected`);
    });
    aedes.on('unsubscribe', (filters, client) => this.subscribers.remove(client, filters));

    // No Nagle: sensor messages are small and a run's latency matters more than packet count.
    const server = createServer({ noDelay: true }, (socket) => this.gate.accept(socket, aedes.handle));
    server.on('error', (err) => this.fail(`listener: ${err.message}`));
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      throw err;
    }
    this.aedes = aedes;
    this.server = server;
    const address = server.address() as AddressInfo;
    const where = `${address.address}:${address.port}`;
    if (!this.access.open) this.log.log('info', `embedded broker listening on ${where} (${this.deps.users.length} user(s))`);
    else if (isLoopbackHost(address.address)) this.log.log('info', `embedded broker listening on ${where} (anonymous clients may read run events: no [[mqtt.users]])`);
    else this.log.log('warn', `embedded broker listening on ${where} for anonymous clients (no [[mqtt.users]]): anyone who can reach it may publish events that start SOPs and read run events`);
    return { host: address.address, port: address.port };
  }

  /** Stops accepting, closes every client (they see the connection close), then the broker. */
  async stop(): Promise<void> {
    const { server, aedes } = this;
    if (server === null || aedes === null) return;
    this.server = null;
    this.aedes = null;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
    this.gate.destroyAll();
    await closed;
  }

  /** Publishes a run event as JSON on <prefix>/runs/<run_id>/<kind>, QoS 0; only `step` is retained. */
  publishRunEvent(event: RunEvent): void {
    const aedes = this.aedes;
    if (aedes === null) return;
    // A step context is retained even with nobody listening yet; any later event of the run ends it.
    if (event.kind === 'step') this.retainedSteps.add(event.run.run_id);
    else this.externalStepEnded(event.run.run_id);
    if (event.kind !== 'step' && !this.subscribers.wants(event.kind)) return;
    aedes.publish(runEventPacket(this.topics, event), (err) => {
      if (err) this.fail(`run event ${event.kind} for ${event.run.run_id}: ${err.message}`);
    });
  }

  /** Drops a run's retained step context once its result is in; nothing is sent to anyone. */
  externalStepEnded(runId: string): void {
    const aedes = this.aedes;
    if (aedes === null || !this.retainedSteps.delete(runId)) return;
    const empty: PublishPacket = { cmd: 'publish', topic: this.topics.runEvent(runId, 'step'), payload: Buffer.alloc(0), qos: 0, retain: true, dup: false };
    // An empty retained payload deletes the retained message (MQTT 3.1.1 §3.3.1.3); stored
    // directly, so subscribers do not receive an empty `step` message.
    storeRetained(aedes, empty).catch((err: unknown) => this.fail(`retained step of run ${runId}: ${errorMessage(err)}`));
  }

  /** A message from the gateway itself (the mqtt_publish tool); never comes back as an event. */
  publish(topic: string, payload: string | Buffer, options: { qos?: 0 | 1 | 2; retain?: boolean } = {}): Promise<void> {
    const aedes = this.aedes;
    if (aedes === null) return Promise.reject(new Error('the embedded broker is not running'));
    const packet: PublishPacket = { cmd: 'publish', topic, payload, qos: options.qos ?? 0, retain: options.retain ?? false, dup: false };
    return new Promise((resolve, reject) => aedes.publish(packet, (err) => (err ? reject(err) : resolve())));
  }

  clients(): number {
    return this.aedes?.connectedClients ?? 0;
  }

  stats(): BrokerStats {
    const { refused, oversizeDrops } = this.gate;
    return {
      ...this.counts,
      dropped: this.counts.dropped + oversizeDrops,
      refusedConnections: refused,
      authFailures: this.gatekeeper.authFailures,
      denied: this.gatekeeper.denied,
      queueDropped: this.outbox.dropped,
      queueDisconnects: this.outbox.disconnected,
      offlineDropped: this.sessions.dropped,
      sessionMessages: this.sessions.messages,
      sessionBytes: this.sessions.bytes,
      inflightDisconnects: this.memory.incoming.refused,
      retainedRefused: this.memory.retained.refused,
      retainedMessages: this.memory.retained.messages,
      retainedBytes: this.memory.retained.bytes,
    };
  }

  /** Once a client has logged in, aedes restores its session's subscriptions: from here its session is not away. */
  private sessionArrived(client: Client): void {
    // A connection that closed while it logged in may have had its 'close' already: it never arrived.
    if (client.closed || client.conn.destroyed) return;
    this.sessions.arrived(client, client.id);
    client.conn.once('close', () => this.sessions.left(client));
  }

  private authorizePublish(client: Client | null, packet: PublishPacket): Error | null {
    // The rest of a chunk that carried an oversize packet is parsed before the close lands.
    if (client !== null && this.gate.isOversized(client.conn)) return new Refusal('connection closed: oversize packet');
    return this.gatekeeper.publish(client, packet);
  }

  /** A client's message (a will too): an event, or a step result on a gateway topic. */
  private fromClient(packet: AedesPublishPacket, client: Client): void {
    this.counts.messagesIn++;
    const topic = packet.topic;
    const payload = typeof packet.payload === 'string' ? packet.payload : packet.payload.toString('utf8');
    if (this.topics.owns(topic)) {
      const c = this.topics.command(topic);
      const sender = { clientId: client.id, username: this.access.userOf(client) };
      if (c?.command === 'result') this.result(c.runId, payload, sender);
      else if (c !== null) this.runCommand(c.runId, c.command, sender);
      return;
    }
    this.counts.eventsEmitted++;
    try {
      this.deps.onEvent({ source: 'mqtt', topic, payload, timestamp: this.timestamp() });
    } catch (err) {
      this.fail(`event listener failed for ${topic}: ${errorMessage(err)}`);
    }
  }

  private timestamp(): string {
    return isoTime(this.deps.now === undefined ? Date.now() : this.deps.now().getTime());
  }

  private runCommand(runId: string, command: 'approve' | 'cancel', sender: CommandSender): void {
    try {
      this.deps.onCommand?.(runId, command, sender);
    } catch (err) {
      this.fail(`${command} listener failed for run ${runId}: ${errorMessage(err)}`);
    }
  }

  private result(runId: string, payload: string, sender: CommandSender): void {
    const result = parseStepResult(payload);
    if (typeof result === 'string') {
      this.counts.dropped++;
      this.log.log('warn', `result from ${sender.clientId} for run ${runId} ignored: ${result}`);
      return;
    }
    this.counts.results++;
    try {
      this.deps.onResult(runId, result, sender);
    } catch (err) {
      this.fail(`result listener failed for run ${runId}: ${errorMessage(err)}`);
    }
  }

  private clientError(client: Client, err: Error): void {
    // Logged and counted where it was raised; and once a client is closed, its pending
    // writes fail one by one with "connection closed", which says nothing new.
    if (err instanceof Refusal || client.closed) return;
    this.counts.errors++;
    this.log.log('warn', `client ${client.id ?? '(connecting)'} from ${remote(client)}: ${err.message}`);
  }

  private fail(message: string): void {
    this.counts.errors++;
    this.log.log('error', message);
  }
}
