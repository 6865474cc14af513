// Who may connect to the embedded broker and what they may do under <event_prefix>/.
//
// - No [[mqtt.users]]: anyone connects, anonymously, with gateway_access = "read": it may
//   follow run events but not send commands, since whoever can reach the port is not
//   thereby trusted to approve a run. Once users exist, a connection needs a valid
//   username and password.
// - Publishing under <prefix>/ needs gateway_access = "readwrite" and is allowed only on
//   <prefix>/runs/<run_id>/result; anything else there is refused.
// - Subscribing: a filter that can match only gateway topics (`sopgate/runs/#`) needs
//   "read" or "readwrite"; for a "none" user it is refused (SUBACK 0x80). A filter that
//   overlaps (`#`, `+/runs/#`) is granted, and gateway topics are then withheld from that
//   user at delivery (authorizeForward). Filtering at delivery is the one check that holds
//   whatever the filter's shape, so it is the rule; refusing the plain cases gives feedback.
// - The broker's $SYS/ topics name every client id and subscription, which is what a
//   client needs to take over an agent's client id: only "readwrite" users may subscribe.
import type { MqttUser } from '../../config/config.js';
import { verifyPassword } from './password.js';
import type { GatewayTopics } from './topics.js';

export type GatewayAccess = MqttUser['gateway_access'];

/** CONNACK return codes (MQTT 3.1.1 §3.2.2.3). */
export const BAD_USERNAME_OR_PASSWORD = 4;
export const NOT_AUTHORIZED = 5;

export type AuthOutcome =
  | { ok: true; access: GatewayAccess; username: string | null }
  | { ok: false; returnCode: typeof BAD_USERNAME_OR_PASSWORD | typeof NOT_AUTHORIZED; reason: string };

// The hash of a random, forgotten password: an unknown username costs the same scrypt
// work as a wrong password, so response times do not tell which names exist.
const DUMMY_HASH = 'scrypt$16384$8$1$iZMEWZRbrVKiuigNUTO+nQ==$re+JiFHIjSjo2fnrqziYUvgAJTlz/xsJRFrgVwwoaSg=';

/** What an anonymous client may do under <event_prefix>/ (only without [[mqtt.users]]). */
export const ANONYMOUS: GatewayAccess = 'read';

export class Access {
  private readonly users: ReadonlyMap<string, MqttUser>;
  private readonly granted = new WeakMap<object, { access: GatewayAccess; username: string | null }>();
  /** No users configured: anonymous clients, who may read gateway topics. */
  readonly open: boolean;
  /** Some user may not see gateway topics, so deliveries must be checked. */
  readonly filtersDelivery: boolean;

  constructor(
    users: readonly MqttUser[],
    private readonly topics: GatewayTopics,
  ) {
    this.users = new Map(users.map((u) => [u.username, u]));
    this.open = users.length === 0;
    this.filtersDelivery = users.some((u) => u.gateway_access === 'none');
  }

  async authenticate(username: string | undefined, password: Uint8Array | undefined): Promise<AuthOutcome> {
    if (this.open) return { ok: true, access: ANONYMOUS, username: null };
    if (username === undefined || username === '' || password === undefined) {
      return { ok: false, returnCode: NOT_AUTHORIZED, reason: 'anonymous connection refused (users are configured)' };
    }
    const user = this.users.get(username);
    const valid = await verifyPassword(password, user?.password_hash ?? DUMMY_HASH);
    if (valid && user !== undefined) return { ok: true, access: user.gateway_access, username: user.username };
    return { ok: false, returnCode: BAD_USERNAME_OR_PASSWORD, reason: `bad username or password for ${JSON.stringify(username)}` };
  }

  /** Remembers who an authenticated client is and what it may do. */
  grant(client: object, outcome: { access: GatewayAccess; username: string | null }): void {
    this.granted.set(client, { access: outcome.access, username: outcome.username });
  }

  of(client: object): GatewayAccess {
    return this.open ? ANONYMOUS : (this.granted.get(client)?.access ?? 'none');
  }

  /** The user a client logged in as; null when anonymous. */
  userOf(client: object): string | null {
    return this.granted.get(client)?.username ?? null;
  }

  /** Why a publish on a gateway topic is refused, or null when it is allowed. */
  refusePublish(client: object, topic: string): string | null {
    if (this.of(client) !== 'readwrite') {
      const anonymous = this.open ? ' (anonymous clients have "read": add a [[mqtt.users]] entry)' : '';
      return `publishing under ${this.topics.root} needs gateway_access = "readwrite"${anonymous}`;
    }
    if (this.topics.command(topic) === null) {
      return `only ${this.topics.root}runs/<run_id>/result, /approve and /cancel may be published under ${this.topics.root}`;
    }
    return null;
  }

  /** Whether a subscription may be granted; an overlapping one is granted and filtered at delivery. */
  maySubscribe(client: object, filter: string): boolean {
    // Only a filter that starts with "$" can match $SYS/ topics [MQTT-4.7.2-1].
    if (filter.startsWith('$')) return this.of(client) === 'readwrite';
    return this.of(client) !== 'none' || this.topics.reach(filter) !== 'inside';
  }

  /** Whether a message may be delivered to a client: gateway topics only to users that may read them. */
  mayReceive(client: object, topic: string): boolean {
    return !this.topics.owns(topic) || this.of(client) !== 'none';
  }
}
