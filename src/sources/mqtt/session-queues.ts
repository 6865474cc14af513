// The bound on what the broker keeps for a persistent session (clean session 0) while its
// client is away ([mqtt] max_queued_messages and max_queued_bytes, as mosquitto bounds an
// offline client's queue). aedes keeps every QoS 1/2 message for such a session's
// subscriptions until the client acknowledges it; a dashboard with a fixed client id that
// died would otherwise grow the gateway's heap with every sensor message. A message that
// finds the queue of an absent client at either bound is not kept for it: the newest are
// dropped, what is queued stays and is delivered, in order, when the client returns. Each
// drop is counted, with one warning per client each time it starts dropping. A connected
// client is never bounded here: what is in flight to it is outbox.ts's business.
import type { Logger } from '../../core/log.js';
import type { SessionQueueBounds } from './aedes-internals.js';
import type { QueueLimits } from './outbox.js';

interface Queue {
  messages: number;
  bytes: number;
  /** Messages dropped for it since its client left; 0 until the first (then the warning). */
  dropped: number;
}

export class SessionQueues implements SessionQueueBounds {
  /** Messages not kept for a client that was away (its queue was full). */
  dropped = 0;
  /** QoS 1/2 messages kept for all persistent sessions (in flight to connected clients too), and their bytes. */
  messages = 0;
  bytes = 0;
  /**
   * Per client id, what aedes keeps for its session: an entry only while that is not
   * empty, so a client id costs nothing here once its session holds nothing.
   */
  private readonly queues = new Map<string, Queue>();
  /** Connections per client id, from CONNECT until aedes lets the client go; never more than the connections. */
  private readonly connections = new Map<string, number>();
  private readonly idOf = new WeakMap<object, string>();

  constructor(
    private readonly limits: QueueLimits,
    private readonly log: Logger,
  ) {}

  /** A connection for `clientId` began (its CONNECT passed the first checks). */
  arrived(client: object, clientId: string): void {
    if (this.idOf.has(client)) return;
    this.idOf.set(client, clientId);
    this.connections.set(clientId, (this.connections.get(clientId) ?? 0) + 1);
    const queue = this.queues.get(clientId);
    if (queue !== undefined && queue.dropped > 0) {
      this.log.log('info', `client ${clientId} is back: ${queue.dropped} QoS 1/2 messages for it were dropped while it was away`);
      queue.dropped = 0;
    }
  }

  /** The connection is over (aedes no longer delivers to it); a second call does nothing. */
  left(client: object): void {
    const clientId = this.idOf.get(client);
    if (clientId === undefined) return;
    this.idOf.delete(client);
    const remaining = (this.connections.get(clientId) ?? 1) - 1;
    if (remaining > 0) this.connections.set(clientId, remaining);
    else this.connections.delete(clientId);
  }

  enqueue(clientId: string, bytes: number): boolean {
    let queue = this.queues.get(clientId);
    if (queue === undefined) this.queues.set(clientId, (queue = { messages: 0, bytes: 0, dropped: 0 }));
    const { max_queued_messages, max_queued_bytes } = this.limits;
    // The bytes bound lets in the message that crosses it, as mosquitto's does.
    if ((queue.messages >= max_queued_messages || queue.bytes >= max_queued_bytes) && !this.connections.has(clientId)) {
      this.dropped++;
      if (queue.dropped++ === 0) {
        this.log.log(
          'warn',
          `client ${clientId} is away with ${queue.messages} QoS 1/2 messages (${queue.bytes} bytes) kept for its persistent session (max_queued_messages = ${max_queued_messages}, max_queued_bytes = ${max_queued_bytes}): newer messages for it are dropped until it comes back`,
        );
      }
      return false;
    }
    queue.messages++;
    queue.bytes += bytes;
    this.messages++;
    this.bytes += bytes;
    return true;
  }

  dequeue(clientId: string, bytes: number): void {
    const queue = this.queues.get(clientId);
    if (queue === undefined) return;
    queue.messages--;
    queue.bytes -= bytes;
    this.messages--;
    this.bytes -= bytes;
    if (queue.messages > 0) return;
    // Empty: forgotten (and the totals kept exact should the bytes ever disagree).
    this.bytes -= queue.bytes;
    this.messages -= queue.messages;
    this.queues.delete(clientId);
  }
}
