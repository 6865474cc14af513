// The gateway configuration (docs/configuration.md) as a pure pipeline: parse → check every key
// (collecting problems with file and line) → defaults → absolute paths → freeze.
// `validate` and daemon start-up call the same function.
import { dirname, resolve } from 'node:path';
import { EXECUTION_MODES, SOP_LIMITS, type Finding } from '../sop/types.js';
import { LISTEN_FORMS, parseListen } from '../core/listen.js';
import { int, isTable, oneOf, readTable, str, strList, tableList, type Spec, type TableIssue, type TableOf } from '../toml/schema.js';
import { parseToml, tomlErrorText } from '../toml/parse.js';
import { TomlLines } from '../toml/lines.js';
import { checkMqtt, type MqttChecked } from './mqtt-checks.js';
import { checkUpstream, finishUpstream, UPSTREAM, type UpstreamConfig } from './upstream.js';
import { readTextFile } from '../core/read-text.js';

/** One [[mqtt.users]] entry: who may connect to the embedded broker. */
export interface MqttUser {
  username: string;
  /** From `sopgate hash-password`: scrypt$<N>$<r>$<p>$<salt b64>$<hash b64>. */
  password_hash: string;
  /** What the user may do under <event_prefix>/: nothing, subscribe to run events, or also report results. */
  gateway_access: 'none' | 'read' | 'readwrite';
}

/** A listen address (core/listen.ts); with `off`, "" is allowed too and `off` says what it means. */
function listen(fallback: string, off?: string): Spec<string> {
  return {
    expected: off === undefined ? LISTEN_FORMS : `${LISTEN_FORMS}, or "" ${off}`,
    fallback,
    accepts: (v): v is string => typeof v === 'string' && ((off !== undefined && v === '') || parseListen(v) !== null),
  };
}

const GATEWAY_ACCESS = ['none', 'read', 'readwrite'];

/**
 * What the embedded broker may hold, sized for a 512 MB board: per client, the messages
 * waiting to be written to it (or kept for its persistent session while it is away) and the
 * QoS 2 messages it sent and has not released; for the whole broker, the retained messages.
 * The worst case is about max_connections × (max_queued_bytes + max_inflight_bytes) +
 * max_retained_bytes, plus max_queued_bytes per persistent session whose client is away.
 */
export const BROKER_LIMITS = {
  max_queued_messages: 1000,
  max_queued_bytes: 512 * 1024,
  max_inflight_bytes: 512 * 1024,
  max_retained_messages: 10_000,
  max_retained_bytes: 8 * 1024 * 1024,
} as const;
const mqttUser = (t: Record<string, unknown>): string | null => {
  if (typeof t.username !== 'string' || t.username === '') return 'username';
  if (typeof t.password_hash !== 'string' || !t.password_hash.startsWith('scrypt$')) return 'password_hash';
  if (t.gateway_access !== undefined && !GATEWAY_ACCESS.includes(t.gateway_access as string)) return 'gateway_access';
  return Object.keys(t).every((k) => ['username', 'password_hash', 'gateway_access'].includes(k)) ? null : 'unknown key';
};

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
    /** Audit ledger entries kept (oldest deleted first, a batch at a time). */
    max_ledger_entries: int(1000, 100000),
  },
  http: {
    listen: listen('127.0.0.1:8080'),
    rate_limit_per_minute: int(0, 60),
    idempotency_ttl_secs: int(0, 300),
    max_body_bytes: int(1, 65536),
    /** Bearer token for /api/* and webhooks; "" = generated into <state_dir>/api.token. */
    token: str(''),
    /** How webhooks authenticate: the API token, a shared secret header, a GitHub-style HMAC, or nothing. */
    webhook_auth: oneOf(['token', 'secret', 'hmac', 'none'] as const, 'token'),
    /** For webhook_auth = "secret" (X-Webhook-Secret) and "hmac" (X-Hub-Signature-256). */
    webhook_secret: str(''),
  },
  mqtt: {
    listen: listen('127.0.0.1:1883', 'to run no embedded broker'),
    event_prefix: str('sopgate'),
    max_packet_bytes: int(1, 262144),
    max_connections: int(1, 256),
    /**
     * Messages waiting to be written to one client (past either bound QoS 0 ones are dropped,
     * and a QoS 1/2 one disconnects it), and QoS 1/2 ones kept for its persistent session
     * while it is away (past either bound newer ones are dropped for it).
     */
    max_queued_messages: int(1, BROKER_LIMITS.max_queued_messages),
    max_queued_bytes: int(1, BROKER_LIMITS.max_queued_bytes),
    /** Bytes of QoS 2 messages one client sent and has not released (PUBREL); past it the client is disconnected. */
    max_inflight_bytes: int(1, BROKER_LIMITS.max_inflight_bytes),
    /** Retained messages kept from clients; past either cap a new one is delivered but not retained. */
    max_retained_messages: int(0, BROKER_LIMITS.max_retained_messages),
    max_retained_bytes: int(0, BROKER_LIMITS.max_retained_bytes),
    users: tableList<MqttUser>(
      'an array of [[mqtt.users]] tables, each with username, password_hash (from sopgate hash-password) and optional gateway_access = "none" | "read" | "readwrite"',
      mqttUser,
      [],
    ),
  },
  cron: {
    timezone: str('UTC'),
    /** Fires missed while the gateway was down: "skip" them, or fire "once" at start-up. */
    catch_up: oneOf(['skip', 'once'] as const, 'skip'),
  },
  sops: {
    /** A larger SOP.toml or SOP.md is not read: the SOP is left out with an error. */
    max_file_bytes: int(1, SOP_LIMITS.maxFileBytes),
    /** A SOP.md with more steps is an error. */
    max_steps: int(1, SOP_LIMITS.maxSteps),
    /** A SOP.toml with more [[triggers]] is an error. */
    max_triggers: int(1, SOP_LIMITS.maxTriggers),
  },
  store: {
    /** "full" survives a power cut (the WAL is fdatasynced off the event loop before anything is told); "normal" survives a crash of the process. */
    synchronous: oneOf(['full', 'normal'] as const, 'full'),
  },
  upstream: UPSTREAM,
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

  const { engine, http, mqtt, cron, sops, store, upstream, ...rest } = parsed.data;
  const raw = { engine, http, mqtt, cron, sops, store, upstream };
  const top = readTable(rest, TOP, reporter(''));
  const sections: Record<string, unknown> = {};
  for (const name of Object.keys(SECTIONS) as (keyof Sections)[]) {
    const table = raw[name] ?? {};
    if (!isTable(table)) {
      errors.push({ message: `${name} must be a table ([${name}])`, file: label, line: lines.key('', name) });
    }
    const values = readTable(isTable(table) ? table : {}, SECTIONS[name], reporter(name)) as Record<string, unknown>;
    if (name === 'mqtt') {
      values.users = (values.users as MqttUser[]).map((u) => Object.freeze({ ...u, gateway_access: u.gateway_access ?? 'none' }));
    }
    if (name === 'upstream') {
      const embedded = (sections.mqtt as { listen: string }).listen !== '';
      for (const i of checkUpstream(values as UpstreamConfig, baseDir, embedded)) {
        (i.warning ? warnings : errors).push({ message: i.message, file: label, line: lines.keyOrHeader('upstream', i.key) });
      }
      Object.assign(values, finishUpstream(values as UpstreamConfig, baseDir));
      values.subscribe = Object.freeze(values.subscribe as string[]);
      values.forward = Object.freeze(values.forward as string[]);
    }
    sections[name] = Object.freeze(values);
  }
  checkMqtt(sections.mqtt as MqttChecked, { errors, warnings }, (key, message) => ({ message, file: label, line: lines.keyOrHeader('mqtt', key) }));
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
  const read = readTextFile(file, CONFIG_LIMIT);
  if (!read.ok && read.missing && path === undefined) return buildConfig('', null, cwd);
  if (!read.ok) {
    const reason = read.missing ? 'no such file' : read.message;
    return { ok: false, errors: [{ message: `cannot read config: ${reason}`, file, line: read.missing ? null : read.line }], warnings: [] };
  }
  return buildConfig(read.text, file, dirname(file));
}

/** A config file is a few KiB; this much is plenty and keeps a wrong path (a log, a device) harmless. */
const CONFIG_LIMIT = { maxBytes: 1_048_576, setting: 'sopgate (fixed)' };

function isValidTimezone(timezone: string): boolean {
  if (timezone === 'UTC') return true; // the default; asking Intl would load ICU's zone data
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: timezone });
    return true;
  } catch {
    return false;
  }
}
