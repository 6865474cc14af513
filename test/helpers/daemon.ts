// A real daemon in-process on port 0 over a temp workspace, and a CLI config that points at it.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildConfig } from '../../src/config/config.js';
import { Gateway, type GatewayDeps, type Listening } from '../../src/gateway/gateway.js';
import { memoryLogger } from './logger.js';
import { requestJson, TOKEN } from './http.js';
import { makeTree } from './workspace.js';

// The one token every test gateway holds (defined beside requestJson).
export { TOKEN } from './http.js';

export interface DaemonHarness {
  root: string;
  daemon: Gateway;
  listening: Listening;
  logs: string[];
  /** A config file whose [http] listen is the daemon's real port, for the CLI. */
  cliConfig: string;
  api(method: string, path: string, body?: string): ReturnType<typeof requestJson>;
}

export interface DaemonOptions {
  /** More keys of the [http] table. */
  http?: string;
  /** More keys of the [mqtt] table. */
  mqtt?: string;
  /** [mqtt] listen: "" runs no embedded broker. */
  mqttListen?: string;
  /** Starts again in this folder (its state kept) instead of a new one. */
  root?: string;
  /** A clock, hardware access or state database of the test's own. */
  clock?: GatewayDeps['clock'];
  hardware?: GatewayDeps['hardware'];
  openStore?: GatewayDeps['openStore'];
}

/** `extraConfig` goes at the top level (tables of its own may follow, [[mqtt.users]] too). */
export async function startDaemon(files: Record<string, string>, extraConfig = '', options: DaemonOptions = {}): Promise<DaemonHarness> {
  const configText =
    `state_dir = "state"\n${extraConfig}\n[http]\nlisten = "127.0.0.1:0"\ntoken = "${TOKEN}"\n${options.http ?? ''}\n` +
    `[mqtt]\nlisten = "${options.mqttListen ?? '127.0.0.1:0'}"\n${options.mqtt ?? ''}\n`;
  const root = options.root ?? (await makeTree({ 'sopgate.toml': configText, ...files }));
  if (options.root !== undefined) await writeFile(join(root, 'sopgate.toml'), configText);
  const built = buildConfig(configText, join(root, 'sopgate.toml'), root);
  if (!built.ok) throw new Error(JSON.stringify(built.errors));
  const logger = memoryLogger();
  const deps: GatewayDeps = { config: built.config, logger };
  if (options.clock !== undefined) deps.clock = options.clock;
  if (options.hardware !== undefined) deps.hardware = options.hardware;
  if (options.openStore !== undefined) deps.openStore = options.openStore;
  const daemon = new Gateway(deps);
  const listening = await daemon.start();
  const cliConfig = join(root, 'cli.toml');
  await writeFile(cliConfig, configText.replace('listen = "127.0.0.1:0"\ntoken', `listen = "127.0.0.1:${listening.http.port}"\ntoken`));
  const base = `http://127.0.0.1:${listening.http.port}`;
  return {
    root,
    daemon,
    listening,
    logs: logger.lines,
    cliConfig,
    api: (method, path, body) => requestJson(base, TOKEN, method, path, body),
  };
}
