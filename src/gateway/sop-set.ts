// The loaded SOP set and its matcher, replaced as a whole on reload.
import { join } from 'node:path';
import { addHardwareFindings } from '../config/board-checks.js';
import type { BoardProfile } from '../config/board-profile.js';
import type { GatewayConfig } from '../config/config.js';
import type { Logger } from '../core/log.js';
import { Matcher } from '../match/matcher.js';
import { RUNNABLE_TOOLS } from '../executors/runnable.js';
import { loadSops, SopsDirError, type LoadedSop, type LoadOptions } from '../sop/load.js';
import { StepsCache } from '../sop/steps-cache.js';
import type { SopDefinition } from '../sop/types.js';
import { BUILD } from '../core/version.js';

/** How this gateway loads SOPs: its configuration's limits and the tools it can run. */
export function loadOptions(config: GatewayConfig): LoadOptions {
  return {
    defaultExecutionMode: config.engine.default_execution_mode,
    timezone: config.cron.timezone,
    maxFileBytes: config.sops.max_file_bytes,
    maxSteps: config.sops.max_steps,
    maxTriggers: config.sops.max_triggers,
    runnableTools: RUNNABLE_TOOLS,
  };
}

export interface SopSet {
  sops: readonly SopDefinition[];
  matcher: Matcher;
  /** SOPs left out because of errors. */
  broken: number;
  /** Keeps this load's SOP.md parses for the next start; a failure is logged. */
  saveCache(): void;
}

export interface ReloadResult {
  ok: boolean;
  loaded: number;
  errors: number;
  message?: string;
}

/**
 * Loads the SOP folder and checks it against the board profiles: SOPs with errors are left
 * out and logged with their findings, the rest make the set. Throws only when the folder
 * itself cannot be read.
 */
export async function loadSopSet(config: GatewayConfig, logger: Logger, boards: readonly BoardProfile[]): Promise<SopSet> {
  const cache = StepsCache.open(join(config.state_dir, 'sop-steps-cache.json'), BUILD);
  const loaded = await loadSops(config.sops_dir, loadOptions(config), cache);
  addHardwareFindings(boards, loaded);
  const good: SopDefinition[] = [];
  for (const s of loaded) {
    logFindings(logger, s);
    if (s.errors.length === 0) good.push(s.sop);
  }
  const saveCache = () => {
    const error = cache.save();
    if (error !== null) logger.log('warn', `cannot keep SOP.md parses for the next start: ${error}`);
  };
  return { sops: good, matcher: Matcher.build(good), broken: loaded.length - good.length, saveCache };
}

/** Findings logged per SOP and level; a SOP.toml of 100,000 unknown keys is one SOP, not 100,000 log lines. */
const LOGGED_FINDINGS = 10;

function logFindings(logger: Logger, s: LoadedSop): void {
  const where = (f: { file: string; line: number | null }) => `${f.file}${f.line === null ? '' : `:${f.line}`}`;
  for (const f of s.errors.slice(0, LOGGED_FINDINGS)) logger.log('error', `SOP ${s.sop.name} left out: ${where(f)}: ${f.message}`);
  for (const f of s.warnings.slice(0, LOGGED_FINDINGS)) logger.log('warn', `SOP ${s.sop.name}: ${where(f)}: ${f.message}`);
  for (const [level, findings, noun] of [['error', s.errors, 'error'], ['warn', s.warnings, 'warning']] as const) {
    const more = findings.length - LOGGED_FINDINGS;
    if (more > 0) logger.log(level, `SOP ${s.sop.name}: ${more} more ${noun}(s) not logged (sopgate validate lists them all)`);
  }
}

export { SopsDirError };
