// Ceilings on what the broker keeps in memory beyond a message's delivery:
// - retained messages ([mqtt] max_retained_messages, max_retained_bytes): past either cap
//   a message on a new topic is delivered but not retained, and one that would replace a
//   retained message takes the old one with it, so a later subscriber gets nothing rather
//   than a stale value (mosquitto's answer to a full store is the same: the message still
//   goes out). The gateway's own step contexts are bounded by the runs and exempt.
// - QoS 2 messages a client sent and has not released with PUBREL ([mqtt]
//   max_inflight_bytes, per client id): past it the client is disconnected, as aedes does
//   past its count of 1,000; MQTT 3.1.1 has no way to refuse one message.
import type { PublishPacket } from 'aedes';
import type { Logger } from '../../core/log.js';
import type { PersistenceBounds } from './aedes-internals.js';

export interface MemoryLimits {
  max_inflight_bytes: number;
  max_retained_messages: number;
  max_retained_bytes: number;
}

/** The caps in front of aedes' persistence, with a warning when one refuses. */
export class MemoryCaps implements PersistenceBounds {
  readonly retained: RetainedCaps;
  readonly incoming: IncomingHold;

  constructor(
    private readonly limits: MemoryLimits,
    exempt: (topic: string) => boolean,
    private readonly log: Logger,
    private readonly refusal: (message: string) => Error,
  ) {
    this.retained = new RetainedCaps(limits.max_retained_messages, limits.max_retained_bytes, exempt);
    this.incoming = new IncomingHold(limits.max_inflight_bytes);
  }

  retain(packet: PublishPacket): RetainVerdict {
    const verdict = this.retained.retain(packet);
    // One line per thousand refusals: a client that retains in a loop must not flood the journal.
    if (verdict !== 'store' && this.retained.refused % 1000 === 1) {
      const { max_retained_messages, max_retained_bytes } = this.limits;
      this.log.log('warn', `message on ${packet.topic} not retained: max_retained_messages (${max_retained_messages}) or max_retained_bytes (${max_retained_bytes}) reached (${this.retained.refused} refused so far)`);
    }
    return verdict;
  }

  holdIncoming(clientId: string, messageId: number, bytes: number): Error | null {
    if (this.incoming.hold(clientId, messageId, bytes)) return null;
    this.log.log('warn', `client ${clientId} disconnected: ${this.incoming.bytesOf(clientId)} bytes of QoS 2 messages it has not released (max_inflight_bytes = ${this.limits.max_inflight_bytes})`);
    return this.refusal('max_inflight_bytes exceeded');
  }

  releaseIncoming(clientId: string, messageId: number): void {
    this.incoming.release(clientId, messageId);
  }

  forgetIncoming(clientId: string): void {
    this.incoming.forget(clientId);
  }
}

export type RetainVerdict = 'store' | 'skip' | 'forget';

export class RetainedCaps {
  /** Bytes (topic and payload) of each retained topic under the caps. */
  private readonly sizes = new Map<string, number>();
  private total = 0;
  /** Messages that were not retained (or took an older one with them) for a cap. */
  refused = 0;

  constructor(
    private readonly maxMessages: number,
    private readonly maxBytes: number,
    private readonly exempt: (topic: string) => boolean,
  ) {}

  get messages(): number {
    return this.sizes.size;
  }

  get bytes(): number {
    return this.total;
  }

  retain(packet: PublishPacket): RetainVerdict {
    const topic = packet.topic;
    if (this.exempt(topic)) return 'store';
    const payload = packet.payload;
    const payloadBytes = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
    const old = this.sizes.get(topic);
    // An empty payload deletes the retained message (MQTT 3.1.1 §3.3.1.3).
    if (payloadBytes === 0) {
      this.forget(topic, old);
      return 'store';
    }
    const size = Buffer.byteLength(topic) + payloadBytes;
    const messages = this.sizes.size + (old === undefined ? 1 : 0);
    const bytes = this.total - (old ?? 0) + size;
    if (messages <= this.maxMessages && bytes <= this.maxBytes) {
      this.sizes.set(topic, size);
      this.total = bytes;
      return 'store';
    }
    this.refused++;
    if (old === undefined) return 'skip';
    this.forget(topic, old);
    return 'forget';
  }

  private forget(topic: string, old: number | undefined): void {
    if (old === undefined) return;
    this.sizes.delete(topic);
    this.total -= old;
  }
}

export class IncomingHold {
  /** Per client id: bytes of each unreleased message, by message id, and their sum. */
  private readonly held = new Map<string, { bytes: number; byId: Map<number, number> }>();
  /** QoS 2 messages refused for the cap (their clients were disconnected). */
  refused = 0;

  constructor(private readonly maxBytes: number) {}

  /** Whether the message may be held; one message alone always may. */
  hold(clientId: string, messageId: number, bytes: number): boolean {
    let mine = this.held.get(clientId);
    if (mine === undefined) this.held.set(clientId, (mine = { bytes: 0, byId: new Map() }));
    const total = mine.bytes - (mine.byId.get(messageId) ?? 0) + bytes;
    if (total > this.maxBytes && mine.byId.size > 0 && !mine.byId.has(messageId)) {
      this.refused++;
      return false;
    }
    mine.byId.set(messageId, bytes);
    mine.bytes = total;
    return true;
  }

  release(clientId: string, messageId: number): void {
    const mine = this.held.get(clientId);
    const bytes = mine?.byId.get(messageId);
    if (mine === undefined || bytes === undefined) return;
    mine.byId.delete(messageId);
    mine.bytes -= bytes;
    if (mine.byId.size === 0) this.held.delete(clientId);
  }

  forget(clientId: string): void {
    this.held.delete(clientId);
  }

  /** Bytes held for a client id. */
  bytesOf(clientId: string): number {
    return this.held.get(clientId)?.bytes ?? 0;
  }
}
