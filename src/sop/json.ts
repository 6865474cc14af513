// The SOP object of DESIGN.md §5, shared by `show --json`, `list --json` and the HTTP API.
import type { SopDefinition } from './types.js';

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
    })),
    location: sop.location,
  };
}
