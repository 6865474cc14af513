// The aedes hooks that decide who may connect and what a client may publish and subscribe
// to: the protocol's own refusals (MQTT 3.1.1), then the gateway's access rules (access.ts).
// Each refusal is logged and counted here, once.
import type { AuthenticateError, Client, ConnectPacket, PublishPacket, Subscription } from 'aedes';
import type { Logger } from '../../core/log.js';
import type { Access } from './access.js';
import type { GatewayTopics } from './topics.js';

/** An error raised on purpose (already logged and counted where it was raised). */
export class Refusal extends Error {}

/** CONNACK 0x02 "identifier rejected" (MQTT 3.1.1 §3.2.2.3). */
const IDENTIFIER_REJECTED = 2;
const SERVER_UNAVAILABLE = 3;

export class Gatekeeper {
  authFailures = 0;
  /** Publishes and subscriptions refused by the ACL or the protocol. */
  denied = 0;
  /** CONNECTs to answer with "identifier rejected" once they reach authentication. */
  private readonly badIdentifier = new WeakSet<Client>();

  constructor(
    private readonly access: Access,
    private readonly topics: GatewayTopics,
    private readonly log: Logger,
    private readonly fail: (message: string) => void,
  ) {}

  /** Checks of a CONNECT before any authentication: null, or the error that closes the connection. */
  connect(client: Client, packet: ConnectPacket): Error | null {
    // [MQTT-3.1.3-8]: a zero-length client id needs a clean session. aedes gives such a
    // client a generated id before authenticate, so the CONNECT is remembered here.
    if (packet.clientId === '' && !packet.clean) this.badIdentifier.add(client);
    // [MQTT-1.5.3-2]: a string with U+0000 closes the connection.
    if (packet.will?.topic.includes('\u0000') === true) {
      this.denied++;
      this.log.log('warn', `connection from ${remote(client)} closed: its will topic contains U+0000`);
      return new Refusal('will topic contains U+0000');
    }
    return null;
  }

  authenticate(
    client: Client,
    username: string | undefined,
    password: Buffer | undefined,
    done: (error: AuthenticateError | null, success: boolean | null) => void,
  ): void {
    if (this.badIdentifier.has(client)) {
      this.authFailures++;
      this.log.log('warn', `client from ${remote(client)} refused: a zero-length client id needs clean session = 1`);
      done(refusal('zero-length client id without a clean session', IDENTIFIER_REJECTED), false);
      return;
    }
    this.access.authenticate(username, password).then(
      (outcome) => {
        if (outcome.ok) {
          this.access.grant(client, outcome);
          return done(null, true);
        }
        this.authFailures++;
        this.log.log('warn', `client ${client.id} from ${remote(client)} refused: ${outcome.reason}`);
        done(refusal(outcome.reason, outcome.returnCode), false);
      },
      (err: unknown) => {
        this.fail(`authenticating ${client.id}: ${String(err)}`);
        done(refusal('authentication failed', SERVER_UNAVAILABLE), false);
      },
    ).catch((err: unknown) => this.fail(`authenticating ${client.id}: ${String(err)}`));
  }

  /** Null when the publish may go on; else the error that refuses it (and closes a client's connection). */
  publish(client: Client | null, packet: PublishPacket): Error | null {
    const topic = packet.topic;
    // aedes' default rule, kept: clients never publish on the broker's $SYS/ topics.
    if (topic.startsWith('$SYS/')) return new Error('$SYS/ topics are reserved');
    // [MQTT-4.7.3-2]: topic names never contain U+0000; the gateway's own publishes neither.
    if (topic.includes('\u0000')) return this.deny(client, topic, 'the topic contains U+0000');
    if (client !== null && this.topics.owns(topic)) {
      const why = this.access.refusePublish(client, topic);
      // MQTT 3.1.1 cannot refuse a PUBLISH; the server closes the connection [MQTT-3.3.5-2].
      if (why !== null) return this.deny(client, topic, why);
    }
    return null;
  }

  /** The subscription to grant, null to refuse it (SUBACK 0x80), or an error that closes the connection. */
  subscribe(client: Client, sub: Subscription): Subscription | null | Error {
    if (sub.topic.includes('\u0000')) {
      this.denied++;
      this.log.log('warn', `client ${client.id} disconnected: its subscription filter contains U+0000 [MQTT-4.7.3-2]`);
      return new Refusal('topic filter contains U+0000');
    }
    if (!this.access.maySubscribe(client, sub.topic)) {
      this.denied++;
      const needs = sub.topic.startsWith('$') ? '"readwrite"' : '"read" or "readwrite"';
      this.log.log('warn', `client ${client.id}: subscription to ${sub.topic} refused: it needs gateway_access = ${needs}`);
      return null;
    }
    return sub;
  }

  private deny(client: Client | null, topic: string, why: string): Error {
    this.denied++;
    const who = client === null ? 'the gateway' : `client ${client.id} disconnected`;
    const shown = topic.includes('\u0000') ? JSON.stringify(topic) : topic;
    this.log.log('warn', `${who}: publish on ${shown} refused: ${why}`);
    return new Refusal(why);
  }
}

function refusal(message: string, returnCode: number): AuthenticateError {
  return Object.assign(new Refusal(message), { returnCode }) as unknown as AuthenticateError;
}

export function remote(client: Client): string {
  const conn = client.conn as { remoteAddress?: string };
  return conn.remoteAddress ?? '?';
}
