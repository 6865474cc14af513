// The bundle gets its version from build.mjs; running from source says "dev".
declare const __SOPGATE_VERSION__: string | undefined;

export const VERSION: string = typeof __SOPGATE_VERSION__ === 'string' ? __SOPGATE_VERSION__ : 'dev';

declare const __SOPGATE_BUILD__: string | undefined;

/**
 * Identifies the code, not just the release: build.mjs hashes the sources and the lockfile.
 * From source it is unique to the process, so nothing computed by other code is reused.
 */
export const BUILD: string = typeof __SOPGATE_BUILD__ === 'string' ? __SOPGATE_BUILD__ : `dev-${process.pid}-${Date.now()}`;
