// One MQTT 5 connection to the upstream broker at a time. Every attempt is a fresh mqtt.js
// client that reads the credential files again (a renewed certificate or password is
// picked up) and never reconnects by itself: what must survive a dropped connection lives
// in the outbox (sent again from its oldest row) and in the broker's persistent session
// (clean start off, a session that does not expire: commands and subscribed messages sent
// while the gateway was away arrive once it is back). Attempts back off from 1 s to 30 s;
// the log says once what is wrong, and again only when that changes.
import { readFileSync } from 'node:fs';
import { connect, type IClientOptions, type IConnackPacket, type MqttClient } from 'mqtt';
import type { UpstreamConfig } from '../../config/upstream.js';
import type { Clock, TimerHandle } from '../../core/clock.js';
import { errorMessage } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import type { UpstreamTopics } from './topics.js';

export const FIRST_RETRY_MS = 1_000;
export const MAX_RETRY_MS = 30_000;
/** How long a clean stop waits for the broker to take the offline status. */
const STOP_WAIT_MS = 2_000;
/** Run events in flight at once, below what the broker takes (its CONNACK's Receive Maximum). */
const MAX_WINDOW = 32;
/** MQTT 5 session expiry "never": the session lasts as long as the broker keeps it. */
const NEVER_EXPIRES = 0xffffffff;

export const OFFLINE = JSON.stringify({ state: 'offline' });

/** The connection as the outbox publisher uses it; a link is dead once the connection drops. */
export interface Link {
  /** Messages it may have unacknowledged at once. */
  readonly window: number;
  /** The largest packet the broker takes (its CONNACK's Maximum Packet Size), if it said. */
  readonly maxPacketBytes: number | undefined;
  /** QoS 1; `done` gets an error when the broker refused the message (a PUBACK reason code ≥ 0x80). */
  publish(topic: string, payload: string, done: (err?: Error) => void): void;
}

export interface ConnectionDeps {
  config: UpstreamConfig;
  /** The largest packet the broker may send the gateway ([mqtt] max_packet_bytes, as for local clients). */
  maxPacketBytes: number;
  topics: UpstreamTopics;
  /**
   * Every filter to subscribe to: QoS 1; No Local (the gateway's own messages never come
   * back); retained messages not sent on subscribing (Retain Handling 2), as they are state
   * from before, not events, and a resumed session would get them again at every reconnect.
   */
  filters: () => string[];
  clock: Clock;
  logger: Logger;
  /** The retained birth message, published on every connect. */
  birth: () => string;
  onUp: (link: Link) => void;
  onDown: () => void;
  /** A message from the broker (`retained`: sent because it was retained, not as it was published); its PUBACK goes once `done` is called. */
  onMessage: (topic: string, payload: Buffer, retained: boolean, done: () => void) => void;
}

export class UpstreamConnection {
  private client: MqttClient | null = null;
  private retry: TimerHandle | null = null;
  private delayMs = FIRST_RETRY_MS;
  private stopping = false;
  /** Why the current connection failed or closed, once known. */
  private problem: string | null = null;
  /** What the log said last was wrong: the same again goes at debug. */
  private logged: string | null = null;
  /** Publishes of the mqtt_publish tool waiting for their PUBACK: refused if the connection drops. */
  private readonly waiting = new Set<(err: Error) => void>();
  connected = false;
  /** When the current connection came up, or the last one went down. */
  since: number | null = null;
  lastError: string | null = null;

  constructor(private readonly deps: ConnectionDeps) {}

  start(): void {
    this.attempt();
  }

  /** Publishes the offline status, then closes; resolves within a few seconds whatever the broker does. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.retry?.cancel();
    const client = this.client;
    this.client = null;
    if (client === null) return;
    const wait = (work: (done: () => void) => void) =>
      new Promise<void>((resolve) => {
        const timer = this.deps.clock.setTimer(STOP_WAIT_MS, resolve);
        work(() => {
          timer.cancel();
          resolve();
        });
      });
    if (this.connected) {
      await wait((done) => client.publish(this.deps.topics.status, OFFLINE, { qos: 1, retain: true }, () => done()));
      this.down('stopped');
      await wait((done) => client.end(false, {}, () => done()));
    }
    client.end(true);
  }

  /** A message of the gateway itself (the mqtt_publish tool in attach mode). */
  publish(topic: string, payload: string, options: { qos: 0 | 1 | 2; retain: boolean }): Promise<void> {
    const client = this.client;
    if (client === null || !this.connected) return Promise.reject(new Error(`the upstream broker is not connected${this.lastError === null ? '' : ` (${this.lastError})`}`));
    return new Promise((resolve, reject) => {
      const refuse = (err: Error) => reject(err);
      this.waiting.add(refuse);
      client.publish(topic, payload, options, (err) => {
        this.waiting.delete(refuse);
        if (err) reject(err);
        else resolve();
      });
    });
  }

  private attempt(): void {
    this.retry = null;
    if (this.stopping) return;
    this.problem = null;
    let options: IClientOptions;
    try {
      options = this.options();
    } catch (err) {
      this.failed(errorMessage(err));
      return;
    }
    const client = connect(this.deps.config.url, options);
    this.client = client;
    client.handleMessage = (packet, done) => {
      if (client !== this.client) return done();
      const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
      this.deps.onMessage(packet.topic, payload, packet.retain, () => done());
    };
    client.on('connect', (connack) => this.up(client, connack));
    client.on('error', (err) => {
      if (client === this.client) this.problem ??= describe(err);
    });
    // mqtt.js passes on only the stream errors that have a code; a WebSocket server that
    // answers the upgrade with an HTTP status (a wrong path) fails the stream without one.
    client.stream.on('error', (err) => {
      if (client === this.client) this.problem ??= describe(err);
    });
    client.on('disconnect', (packet) => {
      if (client === this.client) this.problem ??= disconnectReason(packet.reasonCode ?? 0);
    });
    client.on('close', () => {
      if (client !== this.client) return;
      this.client = null;
      const why = this.problem ?? 'the connection closed';
      const wasUp = this.connected;
      if (wasUp) this.down(why);
      client.removeAllListeners('close');
      client.end(true);
      if (wasUp) this.retryLater();
      else this.failed(why);
    });
  }

  private options(): IClientOptions {
    const c = this.deps.config;
    const file = (key: 'password_file' | 'ca' | 'cert' | 'key') => {
      try {
        return readFileSync(c[key]);
      } catch (err) {
        throw new Error(`cannot read ${key} ${c[key]}: ${errorMessage(err)}`);
      }
    };
    const options: IClientOptions = {
      protocolVersion: 5,
      clientId: `sopgate-${c.gateway_id}`,
      clean: false,
      // A compliant broker drops what is larger instead of sending it [MQTT-3.1.2-24].
      properties: { sessionExpiryInterval: NEVER_EXPIRES, maximumPacketSize: this.deps.maxPacketBytes },
      reconnectPeriod: 0,
      connectTimeout: 10_000,
      keepalive: 60,
      queueQoSZero: false,
      will: { topic: this.deps.topics.status, payload: Buffer.from(OFFLINE), qos: 1, retain: true },
    };
    if (c.username !== '') options.username = c.username;
    if (c.password_file !== '') options.password = file('password_file').toString('utf8').split(/\r?\n/)[0]!;
    if (c.ca !== '') options.ca = file('ca');
    if (c.cert !== '') options.cert = file('cert');
    if (c.key !== '') options.key = file('key');
    return options;
  }

  private up(client: MqttClient, connack: IConnackPacket): void {
    if (client !== this.client) return;
    const log = this.deps.logger;
    this.connected = true;
    this.since = this.deps.clock.now();
    this.lastError = null;
    this.delayMs = FIRST_RETRY_MS;
    this.logged = null;
    log.log('info', `connected to ${this.deps.config.url} as ${this.deps.config.gateway_id}` +
      `${connack.sessionPresent ? ' (session resumed)' : ''}`);
    const filters = Object.fromEntries(this.deps.filters().map((f) => [f, { qos: 1 as const, nl: true, rh: 2 }]));
    client.subscribe(filters, (err, granted) => {
      if (client !== this.client) return;
      if (err) log.log('warn', `cannot subscribe: ${errorMessage(err)}`);
      for (const g of granted ?? []) if (g.qos > 2) log.log('warn', `the broker refused the subscription to ${g.topic} (reason code ${g.qos})`);
    });
    client.publish(this.deps.topics.status, this.deps.birth(), { qos: 1, retain: true }, (err) => {
      if (err && client === this.client) log.log('warn', `the broker refused the status message on ${this.deps.topics.status}: ${errorMessage(err)}`);
    });
    const window = Math.max(1, Math.min(MAX_WINDOW, connack.properties?.receiveMaximum ?? MAX_WINDOW));
    this.deps.onUp({
      window,
      maxPacketBytes: connack.properties?.maximumPacketSize,
      publish: (topic, payload, done) => client.publish(topic, payload, { qos: 1 }, (err) => done(err ?? undefined)),
    });
  }

  private down(why: string): void {
    if (!this.connected) return;
    this.connected = false;
    this.since = this.deps.clock.now();
    const refused = new Error(`the connection to the upstream broker closed before it acknowledged the message (${why})`);
    for (const refuse of this.waiting) refuse(refused);
    this.waiting.clear();
    this.lastError = why === 'stopped' ? null : why;
    this.deps.onDown();
    if (why !== 'stopped') this.deps.logger.log('warn', `connection to ${this.deps.config.url} lost: ${why}; reconnecting`);
  }

  /** An attempt failed: says so once per reason, then tries again later. */
  private failed(why: string): void {
    this.lastError = why;
    if (this.stopping) return;
    const wait = this.retryLater();
    if (why !== this.logged) {
      this.logged = why;
      this.deps.logger.log('error', `cannot connect to ${this.deps.config.url}: ${why}; retrying in ${wait / 1000} s, then up to every ${MAX_RETRY_MS / 1000} s`);
    } else {
      this.deps.logger.log('debug', `still cannot connect to ${this.deps.config.url}: ${why}; retrying in ${wait / 1000} s`);
    }
  }

  /** The next attempt, after a delay that doubles from 1 s to 30 s until one succeeds; returns the delay. */
  private retryLater(): number {
    const wait = this.delayMs;
    this.delayMs = Math.min(MAX_RETRY_MS, this.delayMs * 2);
    if (!this.stopping) this.retry = this.deps.clock.setTimer(wait, () => this.attempt());
    return wait;
  }
}

/** Why the broker sent DISCONNECT (MQTT 5 reason codes). */
function disconnectReason(code: number): string {
  if (code === 0x8b) return 'the broker is shutting down';
  if (code === 0x8e) return 'session taken over: another client connected with the same id (is gateway_id unique?)';
  return `the broker disconnected (reason code ${code})`;
}

/** An mqtt.js or socket error as an operator reads it. */
function describe(err: Error): string {
  const code = (err as { code?: unknown }).code;
  // mosquitto answers a wrong password "not authorized" (135); others say "bad user name or password" (134).
  if (code === 134 || code === 135 || code === 4 || code === 5) return `the broker refused the credentials: ${err.message} (check [upstream] username and password_file)`;
  if (typeof code === 'string') {
    if (code === 'ECONNREFUSED') return `connection refused (is the broker running there?)`;
    if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `cannot resolve the host name (${code})`;
    // OpenSSL's own message for an alert is a line of library internals: the code says it.
    if (code.includes('_ALERT_')) return `the broker refused the TLS handshake (${code}): check [upstream] cert and key`;
    if (/CERT|SIGNATURE|ISSUER|ALTNAME/.test(code)) return `the broker's certificate is not trusted: ${err.message} (check [upstream] ca)`;
  }
  // The ws package's words when the server answers the upgrade with another HTTP status.
  const status = /^Unexpected server response: (\d+)$/.exec(err.message)?.[1];
  if (status !== undefined) return `the server refused the WebSocket upgrade with HTTP ${status}${status === '404' ? ' (check the path in [upstream] url)' : ''}`;
  return err.message;
}
