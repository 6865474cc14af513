// A real mosquitto (Debian's package) on a free loopback port with a config file the test
// writes: persistence in its own folder (sessions and retained messages survive a restart
// on the same port), optional users, ACL and TLS; and certificates made with openssl.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { connectAsync, type IClientOptions, type MqttClient } from 'mqtt';
import { runCommand, withTimeout, WAIT_MS } from './process.js';

export const MOSQUITTO = '/usr/sbin/mosquitto';
export const MOSQUITTO_PASSWD = '/usr/bin/mosquitto_passwd';

/** Why the tests that need mosquitto cannot run here, or false (they then skip, saying so). */
export function noMosquitto(): string | false {
  return existsSync(MOSQUITTO) ? false : `${MOSQUITTO} is not installed (apt-get install mosquitto)`;
}

/** The same for tests that also make certificates. */
export function noMosquittoOrOpenssl(): string | false {
  const missing = noMosquitto();
  if (missing !== false) return missing;
  const found = (process.env.PATH ?? '').split(':').some((dir) => dir !== '' && existsSync(join(dir, 'openssl')));
  return found ? false : 'openssl is not installed (apt-get install openssl)';
}

export interface MosquittoOptions {
  /** Lines right after `listener <port> 127.0.0.1` (cafile, certfile, require_certificate ...). */
  listener?: string[];
  /** Global lines (password_file, acl_file ...); anonymous clients are allowed unless this says otherwise. */
  global?: string[];
}

export interface Mosquitto {
  port: number;
  /** Its folder: config, persistence, log. */
  dir: string;
  /** What it logged so far. */
  log(): string;
  /** SIGTERM; resolves once it has exited (it saves its persistence file first). */
  stop(): Promise<void>;
  /** Starts it again on the same port with the same config. */
  start(): Promise<void>;
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/** A loopback port that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** Starts mosquitto in `dir` on a free port (another port if that one was taken meanwhile). */
export async function startMosquitto(dir: string, options: MosquittoOptions = {}): Promise<Mosquitto> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const broker = new Broker(dir, port, options);
    try {
      await broker.start();
      return broker;
    } catch (err) {
      if (attempt >= 5 || !/Address already in use/.test(broker.log())) throw err;
    }
  }
}

class Broker implements Mosquitto {
  private child: ChildProcess | null = null;
  private output = '';

  constructor(
    readonly dir: string,
    readonly port: number,
    private readonly options: MosquittoOptions,
  ) {}

  log(): string {
    return this.output;
  }

  async start(): Promise<void> {
    const lines = [
      // As root mosquitto would switch to its own user, who cannot read the test's folder.
      ...(process.getuid?.() === 0 ? ['user root'] : []),
      `listener ${this.port} 127.0.0.1`,
      ...(this.options.listener ?? []),
      ...(this.options.global ?? ['allow_anonymous true']),
      'persistence true',
      `persistence_location ${this.dir}/`,
      'log_dest stderr',
      'log_type error',
      'log_type warning',
      'log_type notice',
      'log_type information',
    ];
    const config = join(this.dir, 'mosquitto.conf');
    await writeFile(config, `${lines.join('\n')}\n`);
    const child = spawn(MOSQUITTO, ['-c', config], { stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(child);
    this.child = child;
    const running = new Promise<void>((resolve, reject) => {
      const seen = (s: string) => {
        this.output += s;
        if (/mosquitto version \S+ running/.test(this.output.slice(this.output.lastIndexOf('starting')))) resolve();
      };
      child.stdout!.setEncoding('utf8').on('data', seen);
      child.stderr!.setEncoding('utf8').on('data', seen);
      child.once('exit', (code) => {
        live.delete(child);
        reject(new Error(`mosquitto exited (${code}) on port ${this.port}:\n${this.output}`));
      });
    });
    await withTimeout(running, WAIT_MS, `mosquitto on port ${this.port}`);
  }

  async stop(): Promise<void> {
    const child = this.child;
    this.child = null;
    if (child === null || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    await withTimeout(exited, WAIT_MS, 'mosquitto to exit');
  }
}

/** Adds (or creates) a mosquitto password file entry. */
export async function mosquittoUser(file: string, user: string, password: string): Promise<void> {
  const r = await runCommand(MOSQUITTO_PASSWD, [...(existsSync(file) ? [] : ['-c']), '-b', file, user, password], { cwd: '/' });
  if (r.code !== 0) throw new Error(`mosquitto_passwd failed: ${r.stdout}${r.stderr}`);
}

export interface Certificates {
  ca: string;
  server: { cert: string; key: string };
  client: { cert: string; key: string };
  /** A CA that signed nothing here: a gateway trusting it must refuse the broker. */
  otherCa: string;
}

/** A CA, a server certificate for 127.0.0.1 and a client certificate it signed, made by openssl in `dir`. */
export async function makeCertificates(dir: string): Promise<Certificates> {
  const openssl = async (...args: string[]) => {
    const r = await runCommand('openssl', args, { cwd: dir, timeoutMs: 30_000 });
    if (r.code !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${r.stderr}`);
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  for (const ca of ['ca', 'other-ca']) {
    await openssl('req', '-x509', ...ec, '-keyout', `${ca}.key`, '-out', `${ca}.pem`, '-days', '2', '-subj', `/CN=sopgate test ${ca}`);
  }
  await writeFile(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1\n');
  await writeFile(join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
  for (const [name, subject] of [['server', '/CN=127.0.0.1'], ['client', '/CN=plant3-line1']] as const) {
    await openssl('req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject);
    await openssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', '-extfile', `${name}.ext`);
  }
  const at = (f: string) => join(dir, f);
  return {
    ca: at('ca.pem'),
    server: { cert: at('server.pem'), key: at('server.key') },
    client: { cert: at('client.pem'), key: at('client.key') },
    otherCa: at('other-ca.pem'),
  };
}

export interface Received {
  topic: string;
  payload: string;
  retain: boolean;
  /** When it arrived (Date.now()). */
  at: number;
  /** Sent again by the broker (QoS 1 to this client, unacknowledged when a connection ended). */
  dup: boolean;
}

/**
 * A central consumer: an MQTT 5 client with a persistent session (the broker keeps its
 * messages while either side restarts) that records what it receives and lets a test wait
 * for what it expects.
 */
export class Centre {
  readonly messages: Received[] = [];
  private readonly waiters = new Set<() => void>();

  private constructor(readonly client: MqttClient) {
    client.on('message', (topic, payload, packet) => {
      this.messages.push({ topic, payload: payload.toString('utf8'), retain: packet.retain, at: Date.now(), dup: packet.dup });
      for (const wake of [...this.waiters]) wake();
    });
    client.on('error', () => {}); // it reconnects by itself while the broker restarts
  }

  /** `to`: a port on 127.0.0.1, or a URL (mqtts://...). */
  static async connect(to: number | string, filters: string[], options: IClientOptions = {}): Promise<Centre> {
    const client = await withTimeout(
      connectAsync(typeof to === 'number' ? `mqtt://127.0.0.1:${to}` : to, {
        protocolVersion: 5,
        clientId: `centre-${process.pid}-${++centres}`,
        clean: false,
        properties: { sessionExpiryInterval: 3600 },
        reconnectPeriod: 100,
        ...options,
      }),
      WAIT_MS,
      'the centre to connect',
    );
    const centre = new Centre(client);
    await client.subscribeAsync(Object.fromEntries(filters.map((f) => [f, { qos: 1 as const }])));
    return centre;
  }

  /** Resolves with what `check` makes of the messages so far, once that is not undefined. */
  waitFor<T>(check: (messages: Received[]) => T | undefined, what: string, ms = WAIT_MS): Promise<T> {
    let wake: () => void = () => {};
    const found = new Promise<T>((resolve) => {
      wake = () => {
        const value = check(this.messages);
        if (value === undefined) return;
        this.waiters.delete(wake);
        resolve(value);
      };
      this.waiters.add(wake);
      wake();
    });
    return withTimeout(found, ms, `${what}; received:\n${this.messages.map((m) => `${m.topic} ${m.payload.slice(0, 120)}`).join('\n')}`).finally(() =>
      this.waiters.delete(wake),
    );
  }

  publish(topic: string, payload: string): Promise<unknown> {
    return this.client.publishAsync(topic, payload, { qos: 1 });
  }

  close(): Promise<void> {
    return this.client.endAsync(true);
  }
}

let centres = 0;

const RUN_EVENT_KINDS = '(started|step|waiting_approval|completed|failed|cancelled)';

/**
 * The run events among `messages` under `root` (`<prefix>/<gateway_id>/`), as
 * `<run_id> <event>` in arrival order, as the gateway sent them: commands on the same
 * topics are left out, and so is the broker's redelivery (DUP) of a message the centre
 * already had (its acknowledgement was lost with a connection).
 */
export function runEvents(messages: readonly Received[], root: string): string[] {
  const re = new RegExp(`^${root.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}runs/([^/]+)/${RUN_EVENT_KINDS}$`);
  const had = new Set<string>();
  return messages.flatMap((m) => {
    const match = re.exec(m.topic);
    if (match === null) return [];
    const key = `${m.topic}\u0000${m.payload}`;
    if (m.dup && had.has(key)) return [];
    had.add(key);
    return [`${match[1]} ${match[2]}`];
  });
}

/** A metric from a gateway's GET /metrics (`base`: http://host:port), its labelled samples summed; NaN when absent. */
export async function metric(base: string, name: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const samples = text.split('\n').filter((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return samples.length === 0 ? Number.NaN : samples.reduce((n, l) => n + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}
