// A real daemon in-process on port 0 over a temp workspace, and a CLI config that points at it.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildConfig } from '../../src/config/config.js';
import { Gateway, type GatewayDeps, type Listening } from '../../src/gateway/gateway.js';
import { memoryLogger } from '../../src/core/log.js';
import { requestJson } from './http.js';
import { makeTree } from './workspace.js';

export const TOKEN = 'test-token-0123456789abcdef';

export interface DaemonHarness {
  root: string;
  daemon: Gateway;
  listening: Listening;
  logs: string[];
  /** A config file whose [http] listen is the daemon's real port, for the CLI. */
  cliConfig: string;
  api(method: string, path: string, body?: string): ReturnType<typeof requestJson>;
}

/**
 * `extraConfig` goes at the top level (tables of its own may follow, [[mqtt.users]] too);
 * `tables.http` and `tables.mqtt` are more keys of those two tables; `openStore` opens the
 * state database in place of RunStore.open.
 */
export async function startDaemon(
  files: Record<string, string>,
  extraConfig = '',
  tables: { http?: string; mqtt?: string } = {},
  deps: Pick<GatewayDeps, 'openStore'> = {},
): Promise<DaemonHarness> {
  const configText =
    `state_dir = "state"\n${extraConfig}\n[http]\nlisten = "127.0.0.1:0"\ntoken = "${TOKEN}"\n${tables.http ?? ''}\n` +
    `[mqtt]\nlisten = "127.0.0.1:0"\n${tables.mqtt ?? ''}\n`;
  const root = await makeTree({ 'sopgate.toml': configText, ...files });
  const built = buildConfig(configText, join(root, 'sopgate.toml'), root);
  if (!built.ok) throw new Error(JSON.stringify(built.errors));
  const logger = memoryLogger();
  const daemon = new Gateway({ config: built.config, logger, ...deps });
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
