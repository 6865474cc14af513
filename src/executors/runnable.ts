import type { ToolName } from '../sop/types.js';

/** The built-in tools this gateway can run: validation rejects a step naming any other. */
export const RUNNABLE_TOOLS: ReadonlySet<ToolName> = new Set<ToolName>(['shell', 'http_request', 'mqtt_publish', 'gpio_write', 'serial_write', 'delay', 'log']);
