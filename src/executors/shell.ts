// The `shell` tool (docs/sop-format.md): the block is a script run by /bin/sh in the SOP's
// folder. Trigger data reaches the script only through SOP_* environment variables and
// the payload file, never spliced into the script text, so a payload cannot inject
// commands. The script runs in its own process group, which ends with the step.

import { spawn, type ChildProcess } from 'node:child_process';
import { tmpdir } from 'node:os';
import type { TimerHandle } from '../core/clock.js';
import type { StepAction } from '../sop/types.js';
import { stepEnv, writePayloadFile, type PayloadFile } from './shell-env.js';
import type { Executor, ExecutorDeps, StepContext, StepOutcome } from './types.js';
import { errorMessage } from '../core/errors.js';
import { appendLine, OutputBuffer } from './output-buffer.js';

export interface ShellOptions {
  /** Captured output beyond this is dropped and counted. Default 64 KiB. */
  maxOutputBytes?: number;
  /** When the step has no `timeout_secs`. Default 60. */
  defaultTimeoutSecs?: number;
  /** Default `/bin/sh`. */
  shell?: string;
  /** How long SIGTERM has before the group gets SIGKILL. Default 2000 ms. */
  killGraceMs?: number;
  /** Where payload files are written. Default the system's temporary folder. */
  tmpDir?: string;
}

/**
 * After the script itself exits, how long to wait for its output pipes to close. A
 * background process that inherited them (`daemon &`) would otherwise hold the step
 * open until the timeout.
 */
const PIPE_GRACE_MS = 500;

export function createShellExecutor(deps: ExecutorDeps, options: ShellOptions = {}): Executor {
  const maxOutputBytes = options.maxOutputBytes ?? 65_536;
  const defaultTimeoutSecs = options.defaultTimeoutSecs ?? 60;
  const shell = options.shell ?? '/bin/sh';
  const killGraceMs = options.killGraceMs ?? 2000;
  const tmpDir = options.tmpDir ?? tmpdir();

  return {
    async run(action: StepAction, ctx: StepContext): Promise<StepOutcome> {
      if (ctx.signal.aborted) return { status: 'failed', output: '[cancelled]' };
      let payloadFile: PayloadFile;
      try {
        payloadFile = await writePayloadFile(ctx.event.payload ?? '', tmpDir);
      } catch (err) {
        return { status: 'failed', output: `[could not write the payload file: ${errorMessage(err)}]` };
      }
      try {
        // Cancelled while the file was written: the abort listener below would never fire.
        if (ctx.signal.aborted) return { status: 'failed', output: '[cancelled]' };
        return await runScript(action, ctx, stepEnv(ctx, payloadFile.path));
      } finally {
        await payloadFile.remove().catch(() => {});
      }
    },
  };

  function runScript(action: StepAction, ctx: StepContext, env: NodeJS.ProcessEnv): Promise<StepOutcome> {
    return new Promise<StepOutcome>((resolve) => {
      const output = new OutputBuffer(maxOutputBytes);
      const timers: TimerHandle[] = [];
      let child: ChildProcess;
      let stopped: 'timeout' | 'cancel' | null = null;
      let ending = false;
      let settled = false;

      const finish = (outcome: StepOutcome): void => {
        if (settled) return;
        settled = true;
        for (const timer of timers) timer.cancel();
        ctx.signal.removeEventListener('abort', onAbort);
        // Stop reading pipes a background process may still hold.
        child?.stdout?.destroy();
        child?.stderr?.destroy();
        resolve(outcome);
      };

      // Signals go to the whole process group (negative pid): a script's children
      // (`sleep 30`, a pipeline, `daemon &`) must not outlive their step. False when
      // the group is already gone.
      const signalGroup = (sig: NodeJS.Signals): boolean => {
        if (child?.pid === undefined) return false;
        try {
          process.kill(-child.pid, sig);
          return true;
        } catch {
          return false; // ESRCH
        }
      };
      // On timeout, on cancel, and when the script exits: what it left running goes too.
      const endGroup = (): void => {
        if (ending) return;
        ending = true;
        // Not cancelled on finish: members that ignore SIGTERM still get SIGKILL even
        // after the shell itself has exited. Not armed for a group that is gone, so
        // that a pid the kernel hands out again is not signalled.
        if (signalGroup('SIGTERM')) deps.clock.setTimer(killGraceMs, () => signalGroup('SIGKILL'));
      };
      const stop = (why: 'timeout' | 'cancel'): void => {
        if (stopped !== null || settled) return;
        stopped = why;
        endGroup();
      };
      const onAbort = (): void => stop('cancel');

      try {
        child = spawn(shell, ['-c', action.source], {
          cwd: ctx.sopLocation,
          env,
          stdio: ['ignore', 'pipe', 'pipe'],
          detached: true, // its own process group, so the group can be killed
        });
      } catch (err) {
        // Thrown synchronously for an argument Node refuses; its message may quote the
        // environment (the payload), so only the code is shown.
        const code = (err as NodeJS.ErrnoException).code ?? 'invalid argument';
        finish({ status: 'failed', output: `[could not start ${shell}: ${code}]` });
        return;
      }

      child.stdout?.on('data', (chunk: Buffer) => output.push(chunk));
      child.stderr?.on('data', (chunk: Buffer) => output.push(chunk));
      // Destroying the pipes early can surface EPIPE-like errors; they change nothing.
      child.stdout?.on('error', () => {});
      child.stderr?.on('error', () => {});

      child.on('error', (err) => {
        // ENOENT for a missing shell or working folder, EACCES, ...
        finish({ status: 'failed', output: `[could not start ${shell} in ${ctx.sopLocation}: ${errorMessage(err)}]` });
      });

      let exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
      const done = (): void => {
        if (exit === null) return;
        const text = output.text();
        if (stopped === 'timeout') finish({ status: 'failed', output: appendLine(text, `[timed out after ${timeoutSecs}s]`) });
        else if (stopped === 'cancel') finish({ status: 'failed', output: appendLine(text, '[cancelled]') });
        else if (exit.code === 0) finish({ status: 'completed', output: text });
        else if (exit.code !== null) finish({ status: 'failed', output: appendLine(text, `[exit code ${exit.code}]`) });
        else finish({ status: 'failed', output: appendLine(text, `[killed by ${exit.signal ?? 'a signal'}]`) });
      };
      child.on('exit', (code, signal) => {
        exit = { code, signal };
        endGroup();
        timers.push(deps.clock.setTimer(PIPE_GRACE_MS, done));
      });
      // 'close' comes after 'exit' once both pipes are drained: the normal ending.
      child.on('close', done);

      const timeoutSecs = ctx.timeoutSecs ?? defaultTimeoutSecs;
      timers.push(deps.clock.setTimer(timeoutSecs * 1000, () => stop('timeout')));
      ctx.signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}
