import { parse, TomlError } from 'smol-toml';
import { errorMessage } from '../core/errors.js';

export type TomlResult =
  | { ok: true; data: Record<string, unknown> }
  | { ok: false; message: string; line: number | null; column: number | null };

/** Parses TOML into a plain object, or says where and why it is not TOML. */
export function parseToml(source: string): TomlResult {
  try {
    return { ok: true, data: parse(source) as Record<string, unknown> };
  } catch (err) {
    if (err instanceof TomlError) {
      // smol-toml's message is "Invalid TOML document: <reason>\n\n<code excerpt>".
      const reason = err.message.split('\n')[0]!.replace(/^Invalid TOML document:\s*/, '');
      return { ok: false, message: reason, line: err.line, column: err.column };
    }
    return { ok: false, message: errorMessage(err), line: null, column: null };
  }
}

/** "TOML syntax error at line 3, column 1: invalid value" */
export function tomlErrorText(result: { message: string; line: number | null; column: number | null }): string {
  const where = result.line === null ? '' : ` at line ${result.line}, column ${result.column ?? 1}`;
  return `TOML syntax error${where}: ${result.message}`;
}
