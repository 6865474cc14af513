// A raw MQTT 3.1.1 client on a plain socket, for what mqtt.js will not do: stop reading
// (socket.pause()) while the broker keeps writing, or send a packet a client library
// refuses to build. Packets are made with mqtt-packet, the parser aedes itself uses.
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import mqttPacket, { type IConnectPacket, type Packet } from 'mqtt-packet';

export interface RawClient {
  socket: Socket;
  /** Sends one packet. */
  send(packet: Packet): void;
  /** Resolves with the next packet of this type the broker sends (only while reading). */
  next(cmd: Packet['cmd']): Promise<Packet>;
  /** Resolves once the broker has closed the connection. */
  closed: Promise<void>;
}

/**
 * Connects and sends CONNECT (keepalive 0 unless told), or the given bytes for a CONNECT
 * mqtt-packet will not build; the CONNACK is left to the caller.
 */
export async function rawConnect(port: number, connectOptions: Partial<IConnectPacket> | Buffer = {}): Promise<RawClient> {
  const socket = connect({ host: '127.0.0.1', port });
  await once(socket, 'connect');
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  const waiting: { cmd: Packet['cmd']; resolve: (p: Packet) => void }[] = [];
  parser.on('packet', (packet: Packet) => {
    const i = waiting.findIndex((w) => w.cmd === packet.cmd);
    if (i >= 0) waiting.splice(i, 1)[0]!.resolve(packet);
  });
  socket.on('data', (chunk: Buffer) => parser.parse(chunk));
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const client: RawClient = {
    socket,
    send: (packet) => socket.write(mqttPacket.generate(packet)),
    next: (cmd) => new Promise((resolve) => waiting.push({ cmd, resolve })),
    closed,
  };
  if (Buffer.isBuffer(connectOptions)) socket.write(connectOptions);
  else client.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: '', keepalive: 0, ...connectOptions } as IConnectPacket);
  return client;
}

/**
 * A client that subscribes to `filter` and then stops reading: the broker's writes to it
 * fill the socket buffers and then wait, as for a subscriber on a hung device.
 */
export async function stuckSubscriber(port: number, filter: string, qos: 0 | 1 = 0, connectOptions: Partial<IConnectPacket> = {}): Promise<RawClient> {
  const client = await rawConnect(port, connectOptions);
  const connack = (await client.next('connack')) as Packet & { returnCode: number };
  if (connack.returnCode !== 0) throw new Error(`CONNACK ${connack.returnCode}`);
  const suback = client.next('suback');
  client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: filter, qos }] });
  const granted = ((await suback) as Packet & { granted: number[] }).granted[0];
  if (granted === 128) throw new Error(`subscription to ${filter} refused`);
  client.socket.pause();
  return client;
}
