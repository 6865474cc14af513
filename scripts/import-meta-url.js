// Injected by build.mjs: the CommonJS bundle's stand-in for import.meta.url.
export const import_meta_url = require('node:url').pathToFileURL(__filename).href;
