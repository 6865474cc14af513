// Transport-level limits of the embedded broker: max_connections and max_packet_bytes,
// enforced on the socket before aedes spends anything on it.
import type { Socket } from 'node:net';
import type { Logger } from '../../core/log.js';
import { FrameGuard } from './frame-guard.js';

/** CONNACK 0x03 "server unavailable" (MQTT 3.1.1 §3.2.2.3), for connections beyond the limit. */
const CONNACK_SERVER_UNAVAILABLE = Buffer.from([0x20, 0x02, 0x00, 0x03]);

export class ConnectionGate {
  /** Every open socket, admitted or not, so that stop() can close them all. */
  private readonly sockets = new Set<Socket>();
  private admitted = 0;
  private readonly oversized = new WeakSet<object>();
  refused = 0;
  oversizeDrops = 0;

  constructor(
    private readonly maxConnections: number,
    private readonly maxPacketBytes: number,
    private readonly log: Logger,
  ) {}

  /** Hands the socket to `handle` (aedes) when there is room; refuses it otherwise. */
  accept(socket: Socket, handle: (socket: Socket) => void): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    if (this.admitted >= this.maxConnections) {
      this.refuse(socket);
      return;
    }
    this.admitted++;
    socket.once('close', () => this.admitted--);
    coalesceWrites(socket);
    handle(socket);
    // Added after aedes' 'readable' listener, so the stream stays paused and 'data' reports
    // each chunk as aedes reads it ('readable' takes precedence, node:stream docs).
    const guard = new FrameGuard(this.maxPacketBytes);
    socket.on('data', (chunk: Buffer) => {
      if (guard.check(chunk) || this.oversized.has(socket)) return;
      this.oversized.add(socket);
      this.oversizeDrops++;
      this.log.log('warn', `connection from ${socket.remoteAddress ?? '?'} closed: a packet exceeds max_packet_bytes (${this.maxPacketBytes})`);
      socket.destroy();
    });
  }

  /**
   * True for a connection cut for an oversize packet: aedes still parses the rest of the
   * chunk that carried it, synchronously, before the close lands.
   */
  isOversized(conn: object): boolean {
    return this.oversizeDrops > 0 && this.oversized.has(conn);
  }

  /** Closes what aedes does not know about: sockets before CONNECT and refused ones. */
  destroyAll(): void {
    for (const socket of this.sockets) socket.destroy();
  }

  private refuse(socket: Socket): void {
    // One line per hundred refusals: a reconnect storm must not flood the journal.
    if (this.refused++ % 100 === 0) {
      this.log.log('warn', `connection from ${socket.remoteAddress ?? '?'} refused: max_connections (${this.maxConnections}) reached (${this.refused} refused so far)`);
    }
    socket.on('error', () => {});
    // Answers the CONNECT with "server unavailable" so the client knows why, without
    // building an aedes client for it; a silent socket is cut after a second.
    socket.setTimeout(1000, () => socket.destroy());
    socket.once('data', () => socket.end(CONNACK_SERVER_UNAVAILABLE));
  }
}

/**
 * With noDelay on (run events must not wait for Nagle's algorithm), every packet aedes
 * writes would be a system call and a TCP segment of its own. Corking the socket for the
 * rest of the event-loop turn sends everything written in that turn in one writev, without
 * holding anything back longer than the turn.
 */
export function coalesceWrites(socket: Socket): void {
  const write = socket.write;
  let corked = false;
  const uncork = (): void => {
    corked = false;
    if (!socket.destroyed) socket.uncork();
  };
  socket.write = function (this: Socket, ...args: unknown[]) {
    if (!corked) {
      corked = true;
      socket.cork();
      setImmediate(uncork);
    }
    return (write as (...a: unknown[]) => boolean).apply(this, args);
  } as Socket['write'];
}
