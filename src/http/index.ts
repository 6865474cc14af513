// The HTTP API's public surface, for the gateway and the CLI.
export { HttpApi, type HttpApiDeps } from './http-api.js';
export { httpMetrics, type HttpStats, type RequestCount } from './stats.js';
export { loadApiToken, loadOrCreateToken, tokenFile, type ApiToken } from './token.js';
export type { PeripheralState, Peripherals, SimAnswer } from './peripherals.js';
