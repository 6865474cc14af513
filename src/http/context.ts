// What every handler gets: the request, its parsed path and query, route parameters,
// the client's address and a body reader bound to max_body_bytes.
import type { IncomingMessage } from 'node:http';
import type { BodyResult } from './body.js';
import type { Reply } from './reply.js';
import type { Params } from './router.js';

export interface RequestContext {
  req: IncomingMessage;
  /** The path as received, without the query string (webhook paths are compared exactly). */
  path: string;
  query: URLSearchParams;
  params: Params;
  client: string;
  body(): Promise<BodyResult>;
}

export type Handler = (ctx: RequestContext) => Reply | Promise<Reply>;
