// The [upstream] section: one MQTT connection to an existing broker (the board's own
// mosquitto, or a fleet's central cluster). Its keys, the checks that need more than a
// key's type (the URL's scheme, files that must be readable, topic filters, an id that fits
// one topic level), and its defaults: the host name as gateway_id, paths made absolute.
import { accessSync, constants } from 'node:fs';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { validateTopicFilter } from '../expressions/topic.js';
import { int, str, strList, type TableOf } from '../toml/schema.js';

export const UPSTREAM_SCHEMES = ['mqtt:', 'mqtts:', 'ws:', 'wss:'];
/** A gateway id is one topic level without wildcards, and a usable MQTT client id. */
export const GATEWAY_ID = /^[A-Za-z0-9_-]+$/;

export const UPSTREAM = {
  /** mqtt://, mqtts://, ws://, wss://; "" = no upstream. */
  url: str(''),
  /** "" = the host name (its first label, other characters than [A-Za-z0-9_-] as "-"). */
  gateway_id: str(''),
  /** Upstream topics are <prefix>/<gateway_id>/... */
  prefix: str('sopgate'),
  username: str(''),
  /** A file whose first line is the password. */
  password_file: str(''),
  /** PEM files: the CA that signed the broker's certificate; cert + key for mutual TLS. */
  ca: str(''),
  cert: str(''),
  key: str(''),
  /** Upstream topic filters whose messages are `mqtt` events here. */
  subscribe: strList([]),
  /** Embedded broker topic filters mirrored upstream under <prefix>/<gateway_id>/forward/. */
  forward: strList([]),
  /** Run events kept while the broker is away; beyond it the oldest are dropped (counted). */
  outbox_max_messages: int(1, 100000),
};

export type UpstreamConfig = TableOf<typeof UPSTREAM>;

/** A problem with a key of [upstream]: `key` names it for the line number. */
export interface UpstreamIssue {
  key: string;
  message: string;
  warning?: boolean;
}

/** What the types cannot say; `embeddedBroker`: whether [mqtt] listen runs one. */
export function checkUpstream(u: UpstreamConfig, baseDir: string, embeddedBroker: boolean): UpstreamIssue[] {
  const issues: UpstreamIssue[] = [];
  const error = (key: string, message: string) => issues.push({ key, message: `[upstream] ${message}` });
  if (u.url === '') {
    const set = (['gateway_id', 'username', 'password_file', 'ca', 'cert', 'key'] as const).filter((k) => u[k] !== '');
    if (set.length > 0 || u.subscribe.length > 0 || u.forward.length > 0) {
      issues.push({ key: 'url', message: '[upstream] has no url: the section has no effect', warning: true });
    }
    return issues;
  }
  let url: URL | null = null;
  try {
    url = new URL(u.url);
  } catch {
    error('url', `url ${JSON.stringify(u.url)} is not a URL (expected mqtt://host:port, mqtts://, ws:// or wss://)`);
  }
  const tls = url !== null && (url.protocol === 'mqtts:' || url.protocol === 'wss:');
  if (url !== null) {
    if (!UPSTREAM_SCHEMES.includes(url.protocol)) error('url', `url must start with mqtt://, mqtts://, ws:// or wss://, got ${url.protocol}//`);
    else if (url.hostname === '') error('url', 'url names no host');
    if (url.username !== '' || url.password !== '') error('url', 'url must not carry credentials: use username and password_file');
    // mqtt.js reads options from a URL's query (clientId=... would replace the gateway's own id).
    if (url.search !== '' || url.hash !== '') error('url', 'url must not carry a query or a fragment: every option has its own key in [upstream]');
  }
  const id = gatewayId(u);
  if (!GATEWAY_ID.test(id)) error('gateway_id', `gateway_id ${JSON.stringify(id)} must be letters, digits, "_" and "-" (one topic level)`);
  const prefixProblem = topicNameProblem(u.prefix);
  if (prefixProblem !== null) error('prefix', `prefix ${JSON.stringify(u.prefix)} ${prefixProblem}`);
  if (u.password_file !== '' && u.username === '') error('password_file', 'password_file needs a username');
  for (const key of ['password_file', 'ca', 'cert', 'key'] as const) {
    if (u[key] === '') continue;
    const problem = unreadable(resolve(baseDir, u[key]));
    if (problem !== null) error(key, `${key}: cannot read ${resolve(baseDir, u[key])}: ${problem}`);
  }
  if ((u.cert === '') !== (u.key === '')) error(u.cert === '' ? 'key' : 'cert', 'cert and key go together (mutual TLS needs both)');
  if (!tls && url !== null) {
    for (const key of ['ca', 'cert', 'key'] as const) if (u[key] !== '') error(key, `${key} needs a TLS url (mqtts:// or wss://)`);
  }
  const own = `${u.prefix}/${id}/`;
  u.subscribe.forEach((filter) => {
    const problem = validateTopicFilter(filter);
    if (problem !== null) error('subscribe', `subscribe: ${problem}`);
    else if (filter.startsWith(own)) error('subscribe', `subscribe: ${JSON.stringify(filter)} is under the gateway's own topics (${own}), which are never events`);
  });
  u.forward.forEach((filter) => {
    const problem = validateTopicFilter(filter);
    if (problem !== null) error('forward', `forward: ${problem}`);
  });
  if (u.forward.length > 0 && !embeddedBroker) {
    issues.push({ key: 'forward', message: '[upstream] forward has no effect without the embedded broker ([mqtt] listen = "")', warning: true });
  }
  return issues;
}

/** The section with its defaults applied and its files as absolute paths. */
export function finishUpstream(u: UpstreamConfig, baseDir: string): UpstreamConfig {
  const path = (p: string) => (p === '' ? '' : resolve(baseDir, p));
  return {
    ...u,
    gateway_id: gatewayId(u),
    password_file: path(u.password_file),
    ca: path(u.ca),
    cert: path(u.cert),
    key: path(u.key),
  };
}

function gatewayId(u: UpstreamConfig): string {
  if (u.gateway_id !== '') return u.gateway_id;
  const label = hostname().split('.')[0]!.replace(/[^A-Za-z0-9_-]/g, '-');
  return label === '' ? 'sopgate' : label;
}

/** Why `topic` cannot be a topic name's leading levels, or null. */
function topicNameProblem(topic: string): string | null {
  if (topic === '') return 'is empty';
  if (/[+#\u0000]/.test(topic)) return 'must not hold "+", "#" or NUL';
  if (topic.startsWith('$')) return 'must not start with "$" (broker topics)';
  if (topic.split('/').includes('')) return 'must not have an empty level (a leading, trailing or double "/")';
  return null;
}

function unreadable(file: string): string | null {
  try {
    accessSync(file, constants.R_OK);
    return null;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : String(code ?? err);
  }
}
