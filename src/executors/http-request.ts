// The `http_request` tool (docs/sop-format.md): url, method, headers, body, timeout_secs.
// Placeholders are escaped for where they land: URL components are percent-encoded
// and JSON bodies get JSON-string escaping, so a payload cannot change the request's
// target or break out of a string literal.

import type { ActionOf } from '../sop/types.js';
import { looksLikeJson, renderTemplate, type TemplateMode } from './template.js';
import type { Executor, ExecutorDeps, StepContext, StepOutcome } from './types.js';
import { OutputBuffer, appendLine } from './output-buffer.js';
import { errorMessage } from '../core/errors.js';

export interface HttpOptions {
  /** The response body beyond this is dropped and counted. Default 64 KiB. */
  maxOutputBytes?: number;
}

/** JSON escaping when the body is declared or looks like JSON; text otherwise. */
function bodyMode(headers: Record<string, string>, body: string): TemplateMode {
  const declared = Object.entries(headers).some(
    ([name, value]) => name.toLowerCase() === 'content-type' && value.toLowerCase().includes('json'),
  );
  return declared || looksLikeJson(body) ? 'json' : 'text';
}

export function createHttpExecutor(deps: ExecutorDeps, options: HttpOptions = {}): Executor<ActionOf<'http_request'>> {
  const maxOutputBytes = options.maxOutputBytes ?? 65_536;

  return {
    async run(action, ctx: StepContext): Promise<StepOutcome> {
      if (ctx.signal.aborted) return { status: 'failed', output: '[cancelled]' };
      const { args } = action;
      const timeoutSecs = ctx.timeoutSecs ?? args.timeout_secs;

      const url = renderTemplate(args.url, ctx, 'url');
      // The load-time check saw the template; check the rendered URL as well.
      if (!/^https?:\/\//i.test(url)) return { status: 'failed', output: `[not an http(s) URL: ${url}]` };
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(args.headers)) headers[name] = renderTemplate(value, ctx, 'text');
      const method = args.method.toUpperCase();
      // fetch refuses a body on GET and HEAD.
      const body =
        method === 'GET' || method === 'HEAD' ? undefined : renderTemplate(args.body, ctx, bodyMode(args.headers, args.body));

      const controller = new AbortController();
      let stopped: 'timeout' | 'cancel' | null = null;
      const stop = (why: 'timeout' | 'cancel'): void => {
        stopped ??= why;
        controller.abort();
      };
      const onAbort = (): void => stop('cancel');
      ctx.signal.addEventListener('abort', onAbort, { once: true });
      const timer = deps.clock.setTimer(timeoutSecs * 1000, () => stop('timeout'));
      const stoppedNote = (): string => (stopped === 'timeout' ? `[timed out after ${timeoutSecs}s]` : '[cancelled]');

      let head = '';
      const captured = new OutputBuffer(maxOutputBytes);
      try {
        const init: RequestInit = { method, headers, signal: controller.signal };
        if (body !== undefined) init.body = body;
        const response = await fetch(url, init);
        head = `HTTP ${response.status} ${response.statusText}`;
        // Read the whole body but keep only the cap: the count of dropped bytes goes
        // in the note, and memory stays bounded however large the response is.
        if (response.body !== null) {
          for await (const chunk of response.body as AsyncIterable<Uint8Array>) captured.push(Buffer.from(chunk));
        }
        const output = `${head}\n${captured.text()}`;
        return { status: response.status >= 400 ? 'failed' : 'completed', output };
      } catch (err) {
        if (stopped !== null) {
          // Timed out or cancelled, possibly while the body was still arriving.
          return { status: 'failed', output: head === '' ? stoppedNote() : appendLine(`${head}\n${captured.text()}`, stoppedNote()) };
        }
        return { status: 'failed', output: `[request failed: ${describeFetchError(err)}]` };
      } finally {
        timer.cancel();
        ctx.signal.removeEventListener('abort', onAbort);
      }
    },
  };
}

/** fetch says only "fetch failed"; the useful part (ECONNREFUSED, ENOTFOUND) is in `cause`. */
function describeFetchError(err: unknown): string {
  const cause = err instanceof Error ? (err as Error & { cause?: unknown }).cause : undefined;
  if (cause instanceof Error) {
    const code = (cause as Error & { code?: unknown }).code;
    return typeof code === 'string' && !cause.message.includes(code) ? `${cause.message} (${code})` : cause.message;
  }
  return errorMessage(err);
}
