// `sopgate match --source S [--topic T] [--payload P] [--json]`: the dry run of the matcher.
import type { GatewayEvent } from '../core/events.js';
import { EVENT_SOURCES } from '../core/events.js';
import { Matcher } from '../match/matcher.js';
import { isOneOf } from '../sop/types.js';
import { EXIT, printJson, UsageError, type CliIo } from './io.js';
import { openWorkspace, type GlobalOptions } from './workspace.js';

interface MatchOptions extends GlobalOptions {
  source?: string | undefined;
  topic?: string | undefined;
  payload?: string | undefined;
  json?: boolean | undefined;
}

export async function matchCommand(io: CliIo, options: MatchOptions, now: () => Date = () => new Date()): Promise<number> {
  const source = options.source;
  if (source === undefined) throw new UsageError(`match needs --source (${EVENT_SOURCES.join(', ')})`);
  if (!isOneOf(EVENT_SOURCES, source)) {
    throw new UsageError(`unknown source "${source}" (expected one of ${EVENT_SOURCES.join(', ')})`);
  }
  if (options.topic === undefined && source !== 'manual') {
    throw new UsageError(`match --source ${source} needs --topic (${topicHint(source)})`);
  }
  const ws = await openWorkspace(io, options);
  if (ws.sopsDirError !== null) io.err(`sopgate: ${ws.sopsDirError}`);
  const runnable = ws.sops.filter((s) => s.errors.length === 0);
  const skipped = ws.sops.length - runnable.length;
  if (skipped > 0) io.err(`sopgate: ${skipped} SOP(s) with errors cannot match: run sopgate validate`);

  const event: GatewayEvent = { source, timestamp: now().toISOString() };
  if (options.topic !== undefined) event.topic = options.topic;
  if (options.payload !== undefined) event.payload = options.payload;
  const matched = Matcher.build(runnable.map((s) => s.sop)).match(event);

  if (options.json) printJson(io, { matched });
  else if (matched.length === 0) io.out('no SOP matches');
  else io.out(matched.join('\n'));
  return EXIT.ok;
}

function topicHint(source: string): string {
  switch (source) {
    case 'mqtt':
      return 'the MQTT topic';
    case 'webhook':
      return 'the request path, e.g. /sop/deploy';
    case 'cron':
      return 'the cron expression';
    default:
      return '"<board>/<signal>"';
  }
}
