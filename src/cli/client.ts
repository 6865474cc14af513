// The command line's side of the HTTP API: where the daemon listens and its token come
// from the same config the daemon reads.
import { readFile } from 'node:fs/promises';
import { LISTEN_FORMS, localUrl, parseListen } from '../core/listen.js';
import { loadConfig } from '../config/config.js';
import { tokenFile } from '../http/index.js';
import { UsageError, type CliIo } from './io.js';
import type { GlobalOptions } from './workspace.js';

export class DaemonUnreachable extends Error {}

export interface ApiAnswer {
  status: number;
  body: unknown;
}

export interface ApiClient {
  base: string;
  request(method: 'GET' | 'POST', path: string, body?: string): Promise<ApiAnswer>;
}

/** "0.0.0.0:8080" → "http://127.0.0.1:8080": a wildcard listen is reached on loopback. */
function baseUrl(listen: string): string {
  const address = parseListen(listen);
  if (address === null) throw new UsageError(`[http] listen "${listen}" is not ${LISTEN_FORMS}`);
  return localUrl('http', address);
}

export async function apiClient(io: CliIo, options: GlobalOptions, fetchImpl: typeof fetch = fetch): Promise<ApiClient> {
  const result = await loadConfig(options.config, io.cwd);
  if (!result.ok) {
    const first = result.errors[0]!;
    throw new UsageError(`config: ${first.file}${first.line === null ? '' : `:${first.line}`}: ${first.message}`);
  }
  const config = result.config;
  let token = config.http.token;
  if (token === '') {
    try {
      token = (await readFile(tokenFile(config.state_dir), 'utf8')).trim();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EACCES') throw new UsageError(`cannot read the API token in ${config.state_dir}: permission denied (run as the sopgate user or root)`);
      token = ''; // not started yet: the request below says the daemon is unreachable
    }
  }
  const base = baseUrl(config.http.listen);
  return {
    base,
    async request(method, path, body) {
      let response: Response;
      try {
        const init: RequestInit = { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'x-sopgate-actor': 'cli' } };
        if (body !== undefined) init.body = body;
        response = await fetchImpl(`${base}${path}`, init);
      } catch {
        throw new DaemonUnreachable(`cannot reach the sopgate daemon at ${base} (is it running? try: systemctl status sopgate)`);
      }
      const text = await response.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        // not JSON: keep the text
      }
      return { status: response.status, body: parsed };
    },
  };
}

/** The message of an API error answer. */
export function errorText(answer: ApiAnswer): string {
  const body = answer.body as { message?: unknown; error?: unknown } | string;
  if (typeof body === 'object' && body !== null) {
    if (typeof body.message === 'string') return body.message;
    if (typeof body.error === 'string') return body.error;
  }
  return `HTTP ${answer.status}${typeof body === 'string' && body !== '' ? `: ${body}` : ''}`;
}
