// `sopgate validate [name] [--json]` (docs/cli.md): 0 clean, 1 any error or warning, 2 usage.
import type { Finding } from '../sop/types.js';
import { displayPath, EXIT, printJson, UsageError, type CliIo } from './io.js';
import { openWorkspace, type GlobalOptions } from './workspace.js';

export async function validateCommand(io: CliIo, name: string | undefined, options: GlobalOptions & { json?: boolean | undefined }): Promise<number> {
  const ws = await openWorkspace(io, options);
  const selected = name === undefined ? ws.sops : ws.sops.filter((s) => s.sop.name === name);
  if (name !== undefined && selected.length === 0 && ws.sopsDirError === null) {
    throw new UsageError(`unknown SOP "${name}" (sopgate list shows the SOPs in ${displayPath(io, ws.sopsDir)})`);
  }
  const workspaceErrors = [...ws.configErrors];
  if (ws.sopsDirError !== null) workspaceErrors.push({ message: ws.sopsDirError, file: ws.sopsDir, line: null });
  const workspaceWarnings = ws.configWarnings;
  const ok =
    workspaceErrors.length === 0 &&
    workspaceWarnings.length === 0 &&
    ws.boardErrors.length === 0 &&
    ws.boardWarnings.length === 0 &&
    selected.every((s) => s.errors.length === 0 && s.warnings.length === 0);

  if (options.json) {
    printJson(io, {
      ok,
      sops: selected.map((s) => ({ name: s.sop.name, location: s.sop.location, errors: s.errors, warnings: s.warnings })),
      config: { file: ws.configFile, errors: workspaceErrors, warnings: workspaceWarnings },
      boards: { files: ws.config.boards, errors: ws.boardErrors, warnings: ws.boardWarnings },
    });
    return ok ? EXIT.ok : EXIT.failed;
  }

  const lines: string[] = [];
  const finding = (f: Finding, level: 'error' | 'warning'): string =>
    `${displayPath(io, f.file)}${f.line === null ? '' : `:${f.line}`}: ${level}: ${f.message}`;
  for (const f of workspaceErrors) lines.push(finding(f, 'error'));
  for (const f of workspaceWarnings) lines.push(finding(f, 'warning'));
  for (const f of ws.boardErrors) lines.push(finding(f, 'error'));
  for (const f of ws.boardWarnings) lines.push(finding(f, 'warning'));
  let clean = 0;
  let broken = 0;
  let warned = 0;
  for (const s of selected) {
    if (s.errors.length > 0) broken++;
    else if (s.warnings.length > 0) warned++;
    else clean++;
    for (const f of s.errors) lines.push(finding(f, 'error'));
    for (const f of s.warnings) lines.push(finding(f, 'warning'));
  }
  const noun = selected.length === 1 ? 'SOP' : 'SOPs';
  const parts = [`${clean} clean`];
  if (broken > 0) parts.push(`${broken} with errors`);
  if (warned > 0) parts.push(`${warned} with warnings`);
  lines.push(`${selected.length} ${noun} checked in ${displayPath(io, ws.sopsDir)}: ${parts.join(', ')}`);
  io.out(lines.join('\n'));
  return ok ? EXIT.ok : EXIT.failed;
}
