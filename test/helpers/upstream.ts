// What the in-process upstream tests share: a mosquitto, a centre on it and gateways
// attached to it as `plant3-line1` under `sopgate/fleet`, all stopped and removed after
// the file's tests.
import assert from 'node:assert/strict';
import { after } from 'node:test';
import { startDaemon, type DaemonHarness, type DaemonOptions } from './daemon.js';
import { Centre, metric as metricAt, runEvents as runEventsUnder, startMosquitto, type Mosquitto, type MosquittoOptions, type Received } from './mosquitto.js';
import { until } from './process.js';
import { removeTree, sopToml, tempDir } from './workspace.js';

export const GW = 'plant3-line1';
export const ROOT = `sopgate/fleet/${GW}/`;
export const LOG_MD = '# Log\n\n## Steps\n\n1. **Note** — Write a line.\n\n   ```log\n   message = "noted"\n   ```\n';
/** `tick`: a manual SOP whose run starts and completes in one transaction. */
export const TICK = {
  'sops/tick/SOP.toml': sopToml('tick', 'execution_mode = "auto"\nmax_concurrent = 1000'),
  'sops/tick/SOP.md': LOG_MD,
};

const cleanups: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

/** Runs `fn` after the file's tests, before what was made earlier is stopped. */
export function cleanup(fn: () => Promise<unknown>): void {
  cleanups.push(fn);
}

export async function mosquitto(options?: MosquittoOptions): Promise<Mosquitto> {
  const dir = await tempDir('sopgate-mosquitto-');
  const broker = await startMosquitto(dir, options);
  cleanups.push(() => removeTree(dir), () => broker.stop());
  return broker;
}

export async function centre(broker: Mosquitto, filter = `${ROOT}#`): Promise<Centre> {
  const c = await Centre.connect(broker.port, [filter]);
  cleanups.push(() => c.close());
  return c;
}

/** A gateway in-process with `[upstream]` on `broker` (`extra`: more keys of the section). */
export async function gateway(broker: Mosquitto, files: Record<string, string>, extra = '', options: DaemonOptions = {}): Promise<DaemonHarness> {
  const upstream = `[upstream]\nurl = "mqtt://127.0.0.1:${broker.port}"\ngateway_id = "${GW}"\nprefix = "sopgate/fleet"\n${extra}\n`;
  const h = await startDaemon(files, upstream, options);
  cleanups.push(() => h.daemon.stop());
  return h;
}

/** The run events among the messages (not the centre's own commands), as `<run_id> <event>`, in arrival order. */
export function runEvents(messages: Received[], runId?: string): string[] {
  return runEventsUnder(messages, ROOT).filter((e) => runId === undefined || e.startsWith(`${runId} `));
}

/** For Centre.waitFor: the run's events once there are `count` of them. */
export function eventsOf(runId: string, count: number): (messages: Received[]) => string[] | undefined {
  return (messages) => {
    const seen = runEvents(messages, runId);
    return seen.length >= count ? seen : undefined;
  };
}

export function metric(h: DaemonHarness, name: string): Promise<number> {
  return metricAt(`http://127.0.0.1:${h.listening.http.port}`, name);
}

/** Starts a run by hand through the API; returns its id. */
export async function execute(h: DaemonHarness, sop: string, payload?: string): Promise<string> {
  const r = await h.api('POST', `/api/sops/${sop}/execute`, payload);
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body.run_id as string;
}

/** The gateway's log lines of the upstream connection (`level`: only those). */
export function upstreamLines(h: DaemonHarness, level?: string): string[] {
  return h.logs.filter((l) => l.includes('[upstream]') && (level === undefined || l.startsWith(`${level} `)));
}

/** Waits for the first attempt's log line and for a retry after it; returns the line. */
export async function failsAndRetries(h: DaemonHarness): Promise<string> {
  const line = await until(async () => upstreamLines(h, 'error')[0], 'the failure line');
  await until(async () => (upstreamLines(h, 'debug').some((l) => l.includes('still cannot connect')) ? true : undefined), 'a retry', 15_000);
  assert.equal(upstreamLines(h, 'error').length, 1, 'said once');
  assert.equal((await h.api('GET', '/api/status')).body.upstream.connected, false);
  assert.equal((await fetch(`http://127.0.0.1:${h.listening.http.port}/healthz`)).status, 200, 'the gateway goes on');
  return line;
}
