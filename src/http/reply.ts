// What a handler answers, as a value (errors are values inside): the dispatcher writes it. Every
// error body has the same shape: {"error": "<code>", "message": "..."}.

export interface Reply {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** Close the connection after answering (a body we refused to read is still on the wire). */
  close?: boolean;
}

const JSON_TYPE = 'application/json; charset=utf-8';

export function json(status: number, value: unknown, headers: Record<string, string> = {}): Reply {
  return { status, headers: { 'content-type': JSON_TYPE, ...headers }, body: JSON.stringify(value) };
}

export function error(status: number, code: string, message: string, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}): Reply {
  return json(status, { error: code, message, ...extra }, headers);
}

export function text(status: number, body: string, contentType: string): Reply {
  return { status, headers: { 'content-type': contentType }, body };
}

export const notFound = (message = 'no such resource'): Reply => error(404, 'not_found', message);

/** The state database cannot be written: a request that would change state is refused, nothing changed. */
export function storageUnavailable(r: { message: string; detail: string; retryAfterSecs: number }): Reply {
  const secs = String(r.retryAfterSecs);
  return error(503, 'storage_unavailable', r.message, { reason: r.detail, retry_after_secs: r.retryAfterSecs }, { 'retry-after': secs });
}
export const badRequest = (message: string): Reply => error(400, 'bad_request', message);
