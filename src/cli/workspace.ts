// The part every definition command shares: config → SOP folder → loaded SOPs.
import { resolve } from 'node:path';
import { addHardwareFindings } from '../config/board-checks.js';
import { loadBoardProfiles } from '../config/board-profile.js';
import { buildConfig, loadConfig, type GatewayConfig } from '../config/config.js';
import { loadOptions } from '../gateway/sop-set.js';
import { loadSops, SopsDirError, type LoadedSop } from '../sop/load.js';
import type { Finding } from '../sop/types.js';
import { displayPath, type CliIo } from './io.js';

export interface GlobalOptions {
  config?: string | undefined;
  'sops-dir'?: string | undefined;
}

export interface Workspace {
  config: GatewayConfig;
  configFile: string | null;
  configErrors: Finding[];
  configWarnings: Finding[];
  /** The board profiles `boards` lists, checked (each finding with its file and line). */
  boardErrors: Finding[];
  boardWarnings: Finding[];
  sopsDir: string;
  sops: LoadedSop[];
  /** Set when the SOP folder itself cannot be read. */
  sopsDirError: string | null;
}

export async function openWorkspace(io: CliIo, options: GlobalOptions): Promise<Workspace> {
  const result = await loadConfig(options.config, io.cwd);
  // A broken config still lets the SOPs be checked, on defaults, so one run shows everything.
  const fallback = buildConfig('', null, io.cwd);
  const config = result.ok ? result.config : fallback.ok ? fallback.config : unreachable();
  const sopsDir = options['sops-dir'] === undefined ? config.sops_dir : resolve(io.cwd, options['sops-dir']);
  let sops: LoadedSop[] = [];
  let sopsDirError: string | null = null;
  try {
    sops = await loadSops(sopsDir, loadOptions(config));
  } catch (err) {
    if (!(err instanceof SopsDirError)) throw err;
    sopsDirError = `cannot read SOP folder ${displayPath(io, sopsDir)}: ${err.reason}`;
  }
  // The SOPs are checked against the profiles as the daemon checks them.
  const boards = await loadBoardProfiles(config.boards, config.workspace);
  addHardwareFindings(boards.boards, sops);
  return {
    config,
    configFile: config.file,
    configErrors: result.ok ? [] : result.errors,
    configWarnings: result.warnings,
    boardErrors: boards.errors,
    boardWarnings: boards.warnings,
    sopsDir,
    sops,
    sopsDirError,
  };
}

function unreachable(): never {
  throw new Error('the empty configuration must be valid');
}
