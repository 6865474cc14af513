// The bound on what waits to be written to one client ([mqtt] max_queued_messages and
// max_queued_bytes), as mosquitto bounds its per-client queue: past it a QoS 0 message to
// that client is dropped, and a QoS 1 or 2 one, which the client was promised, disconnects
// it instead. A client that reads nothing never holds up the others: its messages wait in
// its own backlog, and the broker's own delivery of a message does not wait for it.
import type { Client, PublishPacket } from 'aedes';
import type { Logger } from '../../core/log.js';
import type { Backlog, DeliveryPolicy } from './aedes-internals.js';

export interface QueueLimits {
  max_queued_messages: number;
  max_queued_bytes: number;
}

export class Outbox implements DeliveryPolicy {
  /** QoS 0 messages not sent to a client whose backlog was full. */
  dropped = 0;
  /** Clients disconnected because a QoS 1/2 message found their backlog full. */
  disconnected = 0;
  /** Clients dropping messages since their backlog last emptied (one warning each time). */
  private readonly dropping = new WeakSet<Client>();

  constructor(
    private readonly limits: QueueLimits,
    private readonly log: Logger,
  ) {}

  admit(client: Client, backlog: Backlog, packet: PublishPacket, live: boolean): boolean {
    const { max_queued_messages, max_queued_bytes } = this.limits;
    if (backlog.messages < max_queued_messages && backlog.bytes < max_queued_bytes) {
      if (backlog.messages === 0) this.dropping.delete(client);
      return true;
    }
    // Retained messages for a new subscription are paced by the socket: one at a time.
    if (!live) return true;
    if (client.conn.destroyed) return false;
    const full = `${backlog.messages} messages (${backlog.bytes} bytes) wait to be written to it (max_queued_messages = ${max_queued_messages}, max_queued_bytes = ${max_queued_bytes})`;
    if (packet.qos === 0) {
      this.dropped++;
      if (!this.dropping.has(client)) {
        this.dropping.add(client);
        this.log.log('warn', `client ${client.id} does not read: ${full}; QoS 0 messages to it are dropped until it catches up`);
      }
      return false;
    }
    this.disconnected++;
    this.log.log('warn', `client ${client.id} disconnected: ${full}, and a QoS ${packet.qos} message for it cannot be dropped`);
    client.conn.destroy();
    return false;
  }
}
