import type { ToolName } from '../sop/types.js';

/**
 * The built-in tools this gateway can run. gpio_write and serial_write need their
 * backends and come later; until then validation rejects steps that name them.
 */
export const RUNNABLE_TOOLS: ReadonlySet<ToolName> = new Set<ToolName>(['shell', 'http_request', 'mqtt_publish', 'delay', 'log']);
