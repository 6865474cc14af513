// Reads a request body up to max_body_bytes. A body over the limit is answered 413 and
// the connection is closed after the answer: the rest of the body is still on the wire,
// and a client must never be left waiting for us to read it.
import type { IncomingMessage } from 'node:http';
import { error, type Reply } from './reply.js';

export type BodyResult = { ok: true; raw: Buffer; text: string } | { ok: false; reply: Reply };

export function readBody(req: IncomingMessage, limit: number): Promise<BodyResult> {
  const tooLarge = (): BodyResult => ({
    ok: false,
    reply: { ...error(413, 'payload_too_large', `the body exceeds the limit of ${limit} bytes (max_body_bytes)`), close: true },
  });
  const declared = Number(req.headers['content-length']);
  // Refuse at once when the client says up front it will send too much.
  if (Number.isFinite(declared) && declared > limit) return Promise.resolve(tooLarge());

  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (result: BodyResult): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('aborted', onError);
      resolve(result);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        // Keep draining into nothing while the answer goes out; the socket closes after it.
        req.resume();
        done(tooLarge());
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      const raw = Buffer.concat(chunks, size);
      done({ ok: true, raw, text: raw.toString('utf8') });
    };
    const onError = (): void => {
      done({ ok: false, reply: { ...error(400, 'bad_request', 'the request body could not be read'), close: true } });
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('aborted', onError);
  });
}
