// The SOP object (docs/cli.md, "JSON shapes"), shared by `show --json`, `list --json`
// and the HTTP API.
import type { OnFailure, SopDefinition } from './types.js';

export function sopToJson(sop: SopDefinition): Record<string, unknown> {
  return {
    name: sop.name,
    description: sop.description,
    version: sop.version,
    priority: sop.priority,
    execution_mode: sop.execution_mode,
    cooldown_secs: sop.cooldown_secs,
    max_concurrent: sop.max_concurrent,
    triggers: sop.triggers.map((t) => ({ ...t })),
    steps: sop.steps.map((s) => ({
      number: s.number,
      title: s.title,
      body: s.body,
      suggested_tools: [...s.suggested_tools],
      requires_confirmation: s.requires_confirmation,
      action: s.action === null ? null : { tool: s.action.tool, source: s.action.source, args: s.action.args },
      on_failure: onFailureText(s.on_failure),
      timeout_secs: s.timeout_secs,
    })),
    location: sop.location,
  };
}

/** The policy as written in SOP.md: `fail`, `continue` or `retry N`. */
export function onFailureText(f: OnFailure): string {
  return f.policy === 'retry' ? `retry ${f.retries}` : f.policy;
}
