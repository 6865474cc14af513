// The embedded broker's part of GET /metrics: its clients and what its ceilings refused.
import type { BrokerStats } from './broker.js';
import type { Metric } from '../../core/prometheus.js';

/** `clients` and `stats` of the running broker; null when it is disabled (every figure 0). */
export function brokerMetrics(clients: number, stats: BrokerStats | null): Metric[] {
  const counter = (name: string, help: string, value: number | undefined): Metric => ({ name, help, type: 'counter', samples: [{ value: value ?? 0 }] });
  const gauge = (name: string, help: string, value: number | undefined): Metric => ({ name, help, type: 'gauge', samples: [{ value: value ?? 0 }] });
  return [
    gauge('sopgate_broker_clients', 'Clients connected to the embedded broker.', clients),
    counter(
      'sopgate_broker_queue_dropped_total',
      'QoS 0 messages not sent to a client that had max_queued_messages or max_queued_bytes waiting to be written already.',
      stats?.queueDropped,
    ),
    counter(
      'sopgate_broker_queue_disconnects_total',
      'Clients disconnected because a QoS 1/2 message for them found max_queued_messages or max_queued_bytes waiting.',
      stats?.queueDisconnects,
    ),
    counter(
      'sopgate_broker_offline_dropped_total',
      'QoS 1/2 messages not kept for a persistent session whose client was away: max_queued_messages or max_queued_bytes already kept for it.',
      stats?.offlineDropped,
    ),
    gauge('sopgate_broker_session_messages', 'QoS 1/2 messages kept for persistent sessions (clean session 0) until their clients acknowledge them.', stats?.sessionMessages),
    gauge('sopgate_broker_session_bytes', 'Bytes (payload, topic and header) of the QoS 1/2 messages kept for persistent sessions.', stats?.sessionBytes),
    counter('sopgate_broker_inflight_disconnects_total', 'Clients disconnected for holding more than max_inflight_bytes of QoS 2 messages they had not released.', stats?.inflightDisconnects),
    counter('sopgate_broker_retained_refused_total', 'Messages delivered but not retained: max_retained_messages or max_retained_bytes reached.', stats?.retainedRefused),
    gauge('sopgate_broker_retained_messages', "Retained messages held (the gateway's step contexts aside).", stats?.retainedMessages),
    gauge('sopgate_broker_retained_bytes', "Bytes (topic and payload) of the retained messages held (the gateway's step contexts aside).", stats?.retainedBytes),
    counter('sopgate_broker_denied_total', 'Publishes and subscriptions refused by the access rules or the protocol.', stats?.denied),
    counter('sopgate_broker_auth_failures_total', 'Connections refused at CONNECT (bad credentials, anonymous with users configured, a rejected client id).', stats?.authFailures),
  ];
}
