// SOP folders as text, for tests and benches: a SOP.toml, and a SOP.md made of steps.

/** One `[[triggers]]` table with the given lines (`type = "..."` first). */
export function trigger(...lines: string[]): string {
  return `[[triggers]]\n${lines.join('\n')}\n`;
}

/** A SOP.toml with the given [sop] lines and trigger tables; the [sop] lines start at line 4. */
export function sopToml(name: string, extra = '', triggers = trigger('type = "manual"')): string {
  return `[sop]\nname = "${name}"\ndescription = "The ${name} procedure"\n${extra}\n${triggers}`;
}

/** A SOP.md whose `## Steps` list holds `steps` (from the builders below), a blank line between them. */
export function stepsMd(...steps: string[]): string {
  return `# Procedure\n\n## Steps\n\n${steps.join('\n')}`;
}

/** Step `n` carried out by someone outside (no tool block). */
export function externalStep(n: number, title = `Step ${n}`, text = 'Someone does it by hand.'): string {
  return `${n}. **${title}** — ${text}\n`;
}

/** Step `n` run by `tool`, with `body` (TOML, or a script for shell) as its block. */
export function toolStep(n: number, tool: string, body: string, title = `Step ${n}`, text = 'Let the gateway do it.'): string {
  const indented = body
    .split('\n')
    .map((line) => `   ${line}`)
    .join('\n');
  return `${n}. **${title}** — ${text}\n\n   \`\`\`${tool}\n${indented}\n   \`\`\`\n`;
}

/** Step `n` that logs `message` (placeholders allowed, no double quotes). */
export function logStep(n: number, message: string, title = `Log ${n}`): string {
  return toolStep(n, 'log', `message = "${message}"`, title, 'Write a line.');
}

/** Step `n` that runs `script` in the SOP's folder. */
export function shellStep(n: number, script: string, title = `Step ${n}`): string {
  return toolStep(n, 'shell', script, title, 'Run a command.');
}

/** A SOP.md of log steps, one per message. */
export function logSteps(...messages: string[]): string {
  return stepsMd(...messages.map((message, i) => logStep(i + 1, message)));
}

/** A SOP.md with one step done by hand. */
export const ONE_STEP_MD = stepsMd(externalStep(1, 'Do it', 'Do the thing.'));

/** Step `n`: its shell appends its PID (its process group's) to started.pids in the SOP's folder, then sleeps 30 s. */
export function pidThenSleepStep(n: number): string {
  return shellStep(n, 'echo $$ >> started.pids\nsleep 30', 'Wait');
}
