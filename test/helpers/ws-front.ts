// A WebSocket listener in front of a real broker on TCP, for the upstream's ws:// and wss://
// transports. Debian's mosquitto cannot open a websockets listener here, and aedes speaks no
// MQTT 5, so an http or https server on a free loopback port takes each WebSocket connection
// on one path and pipes its binary frames to a TCP connection to mosquitto, as mosquitto's
// own websockets listener carries MQTT. Like a real broker it accepts the upgrade only on its
// path (any other is answered 404) and only with the subprotocol `mqtt`.
import type { IncomingMessage } from 'node:http';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { createWebSocketStream, WebSocketServer } from 'ws';

export interface WebSocketFrontOptions {
  /** The one path it accepts upgrades on (`/mqtt` as EMQX and HiveMQ use). */
  path: string;
  /** PEM files for wss:// (`ca`: client certificates it signed are required). */
  tls?: { cert: Buffer; key: Buffer; ca?: Buffer };
}

export interface WebSocketFront {
  port: number;
  /** Every upgrade request as `<path> <offered subprotocols>`, in arrival order. */
  readonly requests: string[];
  /** How many WebSocket connections reached the broker. */
  connections(): number;
  close(): Promise<void>;
}

export async function webSocketFront(brokerPort: number, options: WebSocketFrontOptions): Promise<WebSocketFront> {
  const tls = options.tls;
  const server =
    tls === undefined
      ? createHttpServer()
      : createHttpsServer({ cert: tls.cert, key: tls.key, ...(tls.ca === undefined ? {} : { ca: tls.ca, requestCert: true, rejectUnauthorized: true }) });
  const wss = new WebSocketServer({ noServer: true, handleProtocols: (offered) => (offered.has('mqtt') ? 'mqtt' : false) });
  const requests: string[] = [];
  const open = new Set<Duplex | Socket>();
  let connections = 0;

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    requests.push(`${req.url} ${req.headers['sec-websocket-protocol'] ?? ''}`);
    if (req.url !== options.path) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      connections++;
      const frames = createWebSocketStream(ws);
      const tcp = connect(brokerPort, '127.0.0.1');
      const closeBoth = () => {
        frames.destroy();
        tcp.destroy();
        open.delete(frames);
        open.delete(tcp);
      };
      for (const side of [frames, tcp]) {
        open.add(side);
        side.on('error', closeBoth).on('close', closeBoth);
      }
      frames.pipe(tcp).pipe(frames);
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (typeof address !== 'object' || address === null) throw new Error('the WebSocket front has no port');
  return {
    port: address.port,
    requests,
    connections: () => connections,
    close: async () => {
      for (const side of open) side.destroy();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
