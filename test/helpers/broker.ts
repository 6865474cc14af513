// The embedded broker on 127.0.0.1 port 0 with real mqtt.js clients, and what a test
// needs around it: the events and results it hands on, and waits on them without polling.
import { EventEmitter, once } from 'node:events';
import type { TestContext } from 'node:test';
import { connectAsync, type IClientOptions, type MqttClient } from 'mqtt';
import { EmbeddedBroker, type BrokerDeps } from '../../src/sources/mqtt/broker.js';
import type { GatewayEvent } from '../../src/core/events.js';
import { memoryLogger } from './logger.js';

/** mqtt.js types its events, so node:events once() does not take its clients. */
export const whenClosed = (c: MqttClient) => new Promise<void>((resolve) => c.once('close', () => resolve()));

type Result = { runId: string; status: string; output: string; clientId: string };

export async function startBroker(t: TestContext, deps: Partial<BrokerDeps> = {}) {
  const events: GatewayEvent[] = [];
  const results: Result[] = [];
  const signal = new EventEmitter();
  const logger = memoryLogger();
  const broker = new EmbeddedBroker({
    listen: '127.0.0.1:0',
    eventPrefix: 'sopgate',
    maxPacketBytes: 4096,
    maxConnections: 20,
    users: [],
    logger,
    onEvent: (e) => {
      events.push(e);
      signal.emit('change');
    },
    onResult: (runId, r, sender) => {
      results.push({ runId, ...r, clientId: sender.clientId });
      signal.emit('change');
    },
    now: () => new Date('2025-01-02T03:04:05.000Z'),
    ...deps,
  });
  const { port } = await broker.start();
  const clients: MqttClient[] = [];
  t.after(async () => {
    await Promise.all(clients.map((c) => c.endAsync(true)));
    await broker.stop();
  });
  const connect = async (opts: IClientOptions = {}) => {
    const c = await connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0, ...opts }, false);
    clients.push(c);
    return c;
  };
  /** Resolves once `pick` finds something in the collected events/results (no polling). */
  const until = async <T>(pick: () => T | undefined): Promise<T> => {
    for (;;) {
      const found = pick();
      if (found !== undefined) return found;
      await once(signal, 'change');
    }
  };
  const event = (topic: string) => until(() => events.find((e) => e.topic === topic));
  return { broker, port, events, results, logger, connect, until, event };
}

export function nextMessage(client: MqttClient, topic: string): Promise<string> {
  return new Promise((resolve) => {
    const on = (t: string, payload: Buffer) => {
      if (t !== topic) return;
      client.off('message', on);
      resolve(payload.toString('utf8'));
    };
    client.on('message', on);
  });
}
