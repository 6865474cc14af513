// The listener's lifecycle. stop() is graceful: it stops accepting at once, lets every
// request in flight finish (their answers say Connection: close), closes idle keep-alive
// sockets, and after a grace period closes whatever is left.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { listenAddress, type ListenAddress } from '../core/listen.js';


export interface ServerOptions {
  /** How long stop() waits for requests in flight before closing their sockets. */
  graceMs?: number;
  /** Errors of the listening socket after it started (accept failures such as EMFILE). */
  onError?: (err: Error) => void;
}

export class HttpListener {
  private readonly handler: (req: IncomingMessage, res: ServerResponse) => void;
  private readonly graceMs: number;
  private readonly onError: (err: Error) => void;
  private server: Server | null = null;
  private readonly inFlight = new Set<ServerResponse>();
  private stopped: Promise<void> | null = null;

  constructor(handler: (req: IncomingMessage, res: ServerResponse) => void, options: ServerOptions = {}) {
    this.handler = handler;
    this.graceMs = options.graceMs ?? 10_000;
    this.onError = options.onError ?? (() => {});
  }

  start(listen: string): Promise<ListenAddress> {
    const { host, port } = listenAddress(listen);
    const server = createServer((req, res) => {
      this.inFlight.add(res);
      res.once('close', () => this.inFlight.delete(res));
      if (this.stopped !== null) closeAfter(res);
      this.handler(req, res);
    });
    // Slow or stalled clients must not hold a socket (and a small board's memory) for long.
    server.headersTimeout = 10_000;
    server.requestTimeout = 30_000;
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        server.on('error', (err) => this.onError(err));
        const address = server.address() as AddressInfo;
        resolve({ host: address.address, port: address.port });
      });
    });
  }

  get stopping(): boolean {
    return this.stopped !== null;
  }

  stop(): Promise<void> {
    const server = this.server;
    if (server === null) return Promise.resolve();
    this.stopped ??= new Promise<void>((resolve) => {
      const deadline = setTimeout(() => server.closeAllConnections(), this.graceMs);
      deadline.unref();
      server.close(() => {
        clearTimeout(deadline);
        resolve();
      });
      for (const res of this.inFlight) closeAfter(res);
      server.closeIdleConnections();
    });
    return this.stopped;
  }
}

/** Makes the connection close once this answer is out, instead of staying alive for more. */
function closeAfter(res: ServerResponse): void {
  if (!res.headersSent) res.setHeader('connection', 'close');
  else {
    const socket = res.socket;
    res.once('finish', () => socket?.destroySoon());
  }
}
