// The gateway configuration (DESIGN.md §3) as a pure pipeline: parse → check every key
// (collecting problems with file and line) → defaults → absolute paths → freeze.
// `validate` and daemon start-up call the same function.
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { EXECUTION_MODES, type Finding } from '../sop/types.js';
import { int, isTable, oneOf, readTable, str, strList, type TableIssue, type TableOf } from './schema.js';
import { parseToml, tomlErrorText } from './toml.js';
import { TomlLines } from './toml-lines.js';

const TOP = {
  workspace: str('.'),
  sops_dir: str(''),
  state_dir: str('.sopgate'),
  boards: strList([]),
};
const SECTIONS = {
  engine: {
    default_execution_mode: oneOf(EXECUTION_MODES, 'supervised'),
    max_concurrent_total: int(1, 5),
    approval_timeout_secs: int(0, 300),
    max_finished_runs: int(0, 1000),
  },
  http: {
    listen: str('127.0.0.1:8080'),
    rate_limit_per_minute: int(0, 60),
    idempotency_ttl_secs: int(0, 300),
    max_body_bytes: int(1, 65536),
  },
  mqtt: {
    listen: str('127.0.0.1:1883'),
    event_prefix: str('sopgate'),
  },
  cron: {
    timezone: str('UTC'),
  },
};

type Sections = typeof SECTIONS;
export type GatewayConfig = Readonly<{
  /** The config file, or null when running on defaults. */
  file: string | null;
  /** Absolute paths, resolved against the config file's folder. */
  workspace: string;
  sops_dir: string;
  state_dir: string;
  boards: readonly string[];
}> & { readonly [K in keyof Sections]: Readonly<TableOf<Sections[K]>> };

export type ConfigResult = { ok: true; config: GatewayConfig; warnings: Finding[] } | { ok: false; errors: Finding[]; warnings: Finding[] };

/**
 * Builds the configuration from a file's text. `baseDir` anchors relative paths: the
 * config file's folder (or the working directory when there is no file).
 */
export function buildConfig(source: string, file: string | null, baseDir: string): ConfigResult {
  const label = file ?? 'sopgate.toml';
  const errors: Finding[] = [];
  const warnings: Finding[] = [];
  const parsed = parseToml(source);
  if (!parsed.ok) return { ok: false, errors: [{ message: tomlErrorText(parsed), file: label, line: parsed.line }], warnings };
  const lines = new TomlLines(source);
  const reporter = (table: string) => (i: TableIssue) => {
    const where = table === '' ? '' : `[${table}] `;
    (i.unknown ? warnings : errors).push({ message: `${where}${i.message}`, file: label, line: lines.keyOrHeader(table, i.key) });
  };

  const { engine, http, mqtt, cron, ...rest } = parsed.data;
  const raw = { engine, http, mqtt, cron };
  const top = readTable(rest, TOP, reporter(''));
  const sections: Record<string, unknown> = {};
  for (const name of Object.keys(SECTIONS) as (keyof Sections)[]) {
    const table = raw[name] ?? {};
    if (!isTable(table)) {
      errors.push({ message: `${name} must be a table ([${name}])`, file: label, line: lines.key('', name) });
    }
    sections[name] = Object.freeze(readTable(isTable(table) ? table : {}, SECTIONS[name], reporter(name)));
  }
  const timezone = (sections.cron as { timezone: string }).timezone;
  if (!isValidTimezone(timezone)) {
    errors.push({ message: `[cron] unknown timezone ${JSON.stringify(timezone)}`, file: label, line: lines.key('cron', 'timezone') });
  }
  if (errors.length > 0) return { ok: false, errors, warnings };

  const workspace = resolve(baseDir, top.workspace);
  const config = {
    file,
    workspace,
    sops_dir: top.sops_dir === '' ? resolve(workspace, 'sops') : resolve(baseDir, top.sops_dir),
    state_dir: resolve(baseDir, top.state_dir),
    boards: Object.freeze(top.boards.map((b) => resolve(baseDir, b))),
    ...sections,
  } as GatewayConfig;
  return { ok: true, config: Object.freeze(config), warnings };
}

/**
 * Reads the config named on the command line, else `./sopgate.toml` if present, else
 * pure defaults anchored at the working directory.
 */
export async function loadConfig(path: string | undefined, cwd: string): Promise<ConfigResult> {
  const file = resolve(cwd, path ?? 'sopgate.toml');
  let source: string;
  try {
    source = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (path === undefined && code === 'ENOENT') return buildConfig('', null, cwd);
    const reason = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : String(err);
    return { ok: false, errors: [{ message: `cannot read config: ${reason}`, file, line: null }], warnings: [] };
  }
  return buildConfig(source, file, dirname(file));
}

function isValidTimezone(timezone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: timezone });
    return true;
  } catch {
    return false;
  }
}
