// The bundle gets its version from build.mjs; running from source says "dev".
declare const __SOPGATE_VERSION__: string | undefined;

export const VERSION: string = typeof __SOPGATE_VERSION__ === 'string' ? __SOPGATE_VERSION__ : 'dev';
