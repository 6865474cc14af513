// The API token (docs/http-api.md): `[http] token` when configured, else the one in
// <state_dir>/api.token, generated there (32 random bytes, hex, mode 0600) on first start.
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface ApiToken {
  token: string;
  source: 'config' | 'file' | 'generated';
  /** The token file, when the token lives in one. */
  file: string | null;
}

export function tokenFile(stateDir: string): string {
  return join(stateDir, 'api.token');
}

export async function loadApiToken(stateDir: string, configured: string): Promise<ApiToken> {
  if (configured !== '') return { token: configured, source: 'config', file: null };
  const file = tokenFile(stateDir);
  const existing = await readToken(file);
  if (existing !== null) return { token: existing, source: 'file', file };
  await mkdir(stateDir, { recursive: true });
  const token = randomBytes(32).toString('hex');
  try {
    // 'wx': two processes starting at once must not overwrite each other's token.
    await writeFile(file, `${token}\n`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    const other = await readToken(file);
    if (other !== null) return { token: other, source: 'file', file };
    // An empty file was there: it may have been created with any mode.
    await writeFile(file, `${token}\n`, { mode: 0o600 });
    await chmod(file, 0o600);
  }
  return { token, source: 'generated', file };
}

/** The token in `file`, or null when there is none; a file readable by others is narrowed to 0600. */
async function readToken(file: string): Promise<string | null> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  const token = text.trim();
  if (token === '') return null;
  if (((await stat(file)).mode & 0o077) !== 0) await chmod(file, 0o600);
  return token;
}

/** The token for a gateway configuration: `[http] token`, else <state_dir>/api.token (created when missing). */
export async function loadOrCreateToken(config: { state_dir: string; http: { token: string } }): Promise<string> {
  return (await loadApiToken(config.state_dir, config.http.token)).token;
}
