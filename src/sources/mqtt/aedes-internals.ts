// The one place that reaches into aedes 1.x beyond its options and hooks. Why: aedes
// holds each message's mqemitter slot until it has been written to every subscriber,
// waiting on sockets that may never drain, so one client that stops reading stalls every
// publish (and, when it finally leaves, mqemitter's queue of stalled messages unwinds
// recursively past the stack); and its memory persistence keeps retained messages,
// unreleased QoS 2 messages and the QoS 1/2 messages queued for a persistent session
// whose client is away without a ceiling (and mistakes one PUBREL of a session for
// another). aedes offers no option for either, so this file wraps a client's
// deliver0/deliverQoS, the broker's subscribe/unsubscribe (so that only live deliveries
// are detached from the slot) and eight methods of the persistence.
import type { Aedes, Client, PublishPacket } from 'aedes';

/** What waits to be written to one client: handed to aedes' writer and not yet flushed. */
export interface Backlog {
  messages: number;
  bytes: number;
}

export interface DeliveryPolicy {
  /**
   * Whether `packet` may join what waits to be written to `client`. `live` is true for a
   * message delivered to a subscription, false for the retained messages a new
   * subscription brings, which aedes sends one at a time as the socket drains.
   */
  admit(client: Client, backlog: Backlog, packet: PublishPacket, live: boolean): boolean;
}

type Deliver = (packet: PublishPacket, done: () => void) => void;
interface ClientDeliveries {
  deliver0: Deliver;
  deliverQoS: Deliver;
}

/** The callback a live delivery carries: its mqemitter slot is released by the broker, not by the write. */
const LIVE = (): void => {};

/**
 * Subscriptions get a listener that hands the message on and releases its mqemitter slot
 * at the end of the event-loop turn, written or not: what a client has not read waits in
 * its own bounded backlog, not in the broker's queue. At the end of the turn rather than at
 * once, so that the broker keeps aedes' own pace: a publisher's next packets are parsed
 * once this turn's deliveries have gone out (sockets are corked until then). Released at
 * once, gateway pass-through fell to three quarters of what it is this way.
 */
export function detachDeliveries(aedes: Aedes): void {
  type Subscribe = (topic: string, deliver: Deliver, done?: () => void) => void;
  const internal = aedes as unknown as { subscribe: Subscribe; unsubscribe: Subscribe };
  const subscribe = internal.subscribe.bind(aedes);
  const unsubscribe = internal.unsubscribe.bind(aedes);
  const detached = new WeakMap<Deliver, Deliver>();
  let unreleased: (() => void)[] = [];
  const releaseAll = (): void => {
    const slots = unreleased;
    unreleased = [];
    for (const released of slots) released();
  };
  internal.subscribe = (topic, deliver, done) => {
    let listener = detached.get(deliver);
    if (listener === undefined) {
      // Two parameters: mqemitter passes the packet only to listeners that declare it.
      listener = (packet, released) => {
        deliver(packet, LIVE);
        if (unreleased.push(released) === 1) setImmediate(releaseAll);
      };
      detached.set(deliver, listener);
    }
    subscribe(topic, listener, done);
  };
  internal.unsubscribe = (topic, deliver, done) => unsubscribe(topic, detached.get(deliver) ?? deliver, done);
}

/** Counts what waits to be written to `client` and lets `policy` turn messages away. */
export function boundDeliveries(client: Client, policy: DeliveryPolicy): void {
  const internal = client as unknown as ClientDeliveries;
  const deliver0 = internal.deliver0;
  const deliverQoS = internal.deliverQoS;
  const backlog: Backlog = { messages: 0, bytes: 0 };
  const send = (deliver: Deliver, packet: PublishPacket, done: () => void): void => {
    if (!policy.admit(client, backlog, packet, done === LIVE)) {
      done();
      return;
    }
    const bytes = wireBytes(packet);
    backlog.messages++;
    backlog.bytes += bytes;
    // aedes calls back once the packet is written and, if the socket was full, drained.
    deliver(packet, () => {
      backlog.messages--;
      backlog.bytes -= bytes;
      done();
    });
  };
  internal.deliver0 = (packet, done) => send(deliver0, packet, done);
  // aedes' deliverQoS hands QoS 0 messages to deliver0: counted there, once.
  internal.deliverQoS = (packet, done) => (packet.qos === 0 ? internal.deliver0(packet, done) : send(deliverQoS, packet, done));
}

/** About what a PUBLISH takes on the wire: the payload and topic, plus a few header bytes. */
function wireBytes(packet: PublishPacket): number {
  const payload = packet.payload;
  return (typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length) + packet.topic.length + 8;
}

export interface PersistenceBounds {
  /** For a retained message: store it, store nothing, or forget the topic's older one. */
  retain(packet: PublishPacket): 'store' | 'skip' | 'forget';
  /** Null when a client's QoS 2 message may be held until it releases it, else the error that refuses it. */
  holdIncoming(clientId: string, messageId: number, bytes: number): Error | null;
  releaseIncoming(clientId: string, messageId: number): void;
  forgetIncoming(clientId: string): void;
}

/** A PUBREL takes the place of a QoS 2 message in a session's queue once the client has it. */
type Outgoing = PublishPacket | { cmd: 'pubrel'; messageId?: number; brokerId?: string; brokerCounter?: number };

interface MemoryPersistence {
  storeRetained(packet: PublishPacket): Promise<void>;
  incomingStorePacket(client: { id: string }, packet: PublishPacket): Promise<void>;
  incomingDelPacket(client: { id: string }, packet: { messageId?: number }): Promise<void>;
  cleanIncoming?(client: { id: string }): Promise<void>;
  outgoingEnqueue(sub: { clientId: string }, packet: PublishPacket): Promise<void>;
  outgoingEnqueueCombi(subs: { clientId: string }[], packet: PublishPacket): Promise<void>;
  outgoingUpdate(client: { id: string }, packet: Outgoing): Promise<void>;
  outgoingClearMessageId(client: { id: string }, packet: { messageId?: number }): Promise<Outgoing | undefined>;
}

const persistenceOf = (aedes: Aedes) => (aedes as unknown as { persistence: MemoryPersistence }).persistence;

/** Puts `bounds` in front of what aedes' persistence keeps (set up by createBroker). */
export function boundPersistence(aedes: Aedes, bounds: PersistenceBounds): void {
  const p = persistenceOf(aedes);
  const storeRetained = p.storeRetained.bind(p);
  const incomingStorePacket = p.incomingStorePacket.bind(p);
  const incomingDelPacket = p.incomingDelPacket.bind(p);
  const cleanIncoming = p.cleanIncoming?.bind(p);
  p.storeRetained = (packet) => {
    const verdict = bounds.retain(packet);
    if (verdict === 'skip') return Promise.resolve();
    return storeRetained(verdict === 'store' ? packet : { ...packet, payload: Buffer.alloc(0) });
  };
  p.incomingStorePacket = (client, packet) => {
    const refused = bounds.holdIncoming(client.id, packet.messageId ?? 0, wireBytes(packet));
    return refused === null ? incomingStorePacket(client, packet) : Promise.reject(refused);
  };
  p.incomingDelPacket = (client, packet) => {
    bounds.releaseIncoming(client.id, packet.messageId ?? 0);
    return incomingDelPacket(client, packet);
  };
  if (cleanIncoming !== undefined) {
    p.cleanIncoming = (client) => {
      bounds.forgetIncoming(client.id);
      return cleanIncoming(client);
    };
  }
}

export interface SessionQueueBounds {
  /** Whether a QoS 1/2 message of `bytes` may join what is kept for `clientId`'s session; counted there if so. */
  enqueue(clientId: string, bytes: number): boolean;
  /** A message of `bytes` left `clientId`'s queue: the client has it, or its session was cleaned. */
  dequeue(clientId: string, bytes: number): void;
}

/**
 * Puts `bounds` in front of the queues aedes' persistence keeps for persistent sessions
 * (clean session 0): every QoS 1/2 message for such a session's subscriptions, connected
 * or not, from its publication until the client acknowledges it. The persistence queues
 * in outgoingEnqueue(Combi) only; a message leaves it in outgoingClearMessageId (PUBACK,
 * PUBCOMP, and the drain of a session that is cleaned) or, for QoS 2, becomes a PUBREL
 * in outgoingUpdate when the client has it (PUBREC).
 */
export function boundSessionQueues(aedes: Aedes, bounds: SessionQueueBounds): void {
  const p = persistenceOf(aedes);
  const enqueue = p.outgoingEnqueue.bind(p);
  const enqueueCombi = p.outgoingEnqueueCombi.bind(p);
  const update = p.outgoingUpdate.bind(p);
  const clear = p.outgoingClearMessageId.bind(p);
  // The bytes of each QoS 2 message sent to a session, by client id and message id: the
  // PUBREL that replaces it in the queue names the message id only.
  const sentQoS2 = new Map<string, Map<number, number>>();
  const takeSent = (clientId: string, messageId: number): number | undefined => {
    const sent = sentQoS2.get(clientId);
    const bytes = sent?.get(messageId);
    if (sent === undefined || bytes === undefined) return undefined;
    sent.delete(messageId);
    if (sent.size === 0) sentQoS2.delete(clientId);
    return bytes;
  };
  p.outgoingEnqueue = (sub, packet) => (bounds.enqueue(sub.clientId, wireBytes(packet)) ? enqueue(sub, packet) : Promise.resolve());
  p.outgoingEnqueueCombi = (subs, packet) => {
    if (subs.length === 0) return enqueueCombi(subs, packet);
    const bytes = wireBytes(packet);
    const admitted = subs.filter((sub) => bounds.enqueue(sub.clientId, bytes));
    return admitted.length === subs.length ? enqueueCombi(subs, packet) : enqueueCombi(admitted, packet);
  };
  p.outgoingUpdate = (client, packet) =>
    update(client, packet).then(() => {
      if (packet.messageId === undefined) return;
      if (packet.cmd === 'publish' && packet.qos === 2) {
        let sent = sentQoS2.get(client.id);
        if (sent === undefined) sentQoS2.set(client.id, (sent = new Map()));
        sent.set(packet.messageId, wireBytes(packet));
      } else if (packet.cmd === 'pubrel') {
        const bytes = takeSent(client.id, packet.messageId);
        if (bytes !== undefined) bounds.dequeue(client.id, bytes);
      }
    });
  p.outgoingClearMessageId = (client, packet) =>
    clear(client, packet).then((removed) => {
      // A PUBREL left the count when it took its message's place.
      if (removed?.cmd === 'publish') {
        if (removed.messageId !== undefined) takeSent(client.id, removed.messageId);
        bounds.dequeue(client.id, wireBytes(removed));
      }
      return removed;
    });
}

/**
 * The persistence finds the queue entry a packet updates by its brokerId and brokerCounter
 * first, and aedes' PUBREL has neither: a second PUBREL while the first was still queued
 * took the first one's place and id, so the client was never released from one message
 * and another stayed queued, to be sent again when the client came back. Each PUBREL
 * gets a counter of its own, which matches no other entry and which aedes keeps when it
 * sends the PUBREL again from the queue.
 */
export function distinctPubrels(aedes: Aedes): void {
  const p = persistenceOf(aedes);
  const update = p.outgoingUpdate.bind(p);
  const brokerId = `${aedes.id}/pubrel`;
  let counter = 0;
  p.outgoingUpdate = (client, packet) => {
    if (packet.cmd === 'pubrel' && packet.brokerId === undefined) {
      packet.brokerId = brokerId;
      packet.brokerCounter = ++counter;
    }
    return update(client, packet);
  };
}

/** Stores (or, with an empty payload, deletes) a retained message without sending it to anyone. */
export function storeRetained(aedes: Aedes, packet: PublishPacket): Promise<void> {
  return persistenceOf(aedes).storeRetained(packet);
}
