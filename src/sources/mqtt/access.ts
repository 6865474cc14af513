// Who may connect to the embedded broker and what they may do under <event_prefix>/.
//
// - No [[mqtt.users]]: anyone connects, anonymously, with full access (a local broker for
//   local sensors). Once users exist, a connection needs a valid username and password.
// - Publishing under <prefix>/ needs gateway_access = "readwrite" and is allowed only on
//   <prefix>/runs/<run_id>/result; anything else there is refused.
// - Subscribing: a filter that can match only gateway topics (`sopgate/runs/#`) needs
//   "read" or "readwrite"; for a "none" user it is refused (SUBACK 0x80). A filter that
//   overlaps (`#`, `+/runs/#`) is granted, and gateway topics are then withheld from that
//   user at delivery (authorizeForward). Filtering at delivery is the one check that holds
//   whatever the filter's shape, so it is the rule; refusing the plain cases gives feedback.
import type { MqttUser } from '../../config/config.js';
import { verifyPassword } from './password.js';
import type { GatewayTopics } from './topics.js';

export type GatewayAccess = MqttUser['gateway_access'];

/** CONNACK return codes (MQTT 3.1.1 §3.2.2.3). */
export const BAD_USERNAME_OR_PASSWORD = 4;
export const NOT_AUTHORIZED = 5;

export type AuthOutcome =
  | { ok: true; access: GatewayAccess }
  | { ok: false; returnCode: typeof BAD_USERNAME_OR_PASSWORD | typeof NOT_AUTHORIZED; reason: string };

// The hash of a random, forgotten password: an unknown username costs the same scrypt
// work as a wrong password, so response times do not tell which names exist.
const DUMMY_HASH = 'scrypt$16384$8$1$iZMEWZRbrVKiuigNUTO+nQ==$re+JiFHIjSjo2fnrqziYUvgAJTlz/xsJRFrgVwwoaSg=';

export class Access {
  private readonly users: ReadonlyMap<string, MqttUser>;
  private readonly granted = new WeakMap<object, GatewayAccess>();
  /** No users configured: anonymous clients with full access. */
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
    if (this.open) return { ok: true, access: 'readwrite' };
    if (username === undefined || username === '' || password === undefined) {
      return { ok: false, returnCode: NOT_AUTHORIZED, reason: 'anonymous connection refused (users are configured)' };
    }
    const user = this.users.get(username);
    const valid = await verifyPassword(password, user?.password_hash ?? DUMMY_HASH);
    if (valid && user !== undefined) return { ok: true, access: user.gateway_access };
    return { ok: false, returnCode: BAD_USERNAME_OR_PASSWORD, reason: `bad username or password for ${JSON.stringify(username)}` };
  }

  /** Remembers what an authenticated client may do. */
  grant(client: object, access: GatewayAccess): void {
    this.granted.set(client, access);
  }

  of(client: object): GatewayAccess {
    return this.open ? 'readwrite' : (this.granted.get(client) ?? 'none');
  }

  /** Why a publish on a gateway topic is refused, or null when it is allowed. */
  refusePublish(client: object, topic: string): string | null {
    if (this.of(client) !== 'readwrite') return `publishing under ${this.topics.root} needs gateway_access = "readwrite"`;
    if (this.topics.command(topic) === null) {
      return `only ${this.topics.root}runs/<run_id>/result, /approve and /cancel may be published under ${this.topics.root}`;
    }
    return null;
  }

  /** Whether a subscription may be granted; an overlapping one is granted and filtered at delivery. */
  maySubscribe(client: object, filter: string): boolean {
    return this.of(client) !== 'none' || this.topics.reach(filter) !== 'inside';
  }

  /** Whether a message may be delivered to a client: gateway topics only to users that may read them. */
  mayReceive(client: object, topic: string): boolean {
    return !this.topics.owns(topic) || this.of(client) !== 'none';
  }
}
