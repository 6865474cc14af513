// The HTTP API's public surface, for the daemon and the CLI.
export { HttpApi, type HttpApiDeps } from './http-api.js';
export { hmacSignature } from './auth.js';
export { httpMetrics, type HttpStats, type RequestCount } from './stats.js';
export { loadApiToken, loadOrCreateToken, tokenFile, type ApiToken } from './token.js';
