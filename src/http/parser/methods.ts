// llhttp's method ids → names: the one table both builds use. It comes from
// the llhttp constants shipped with the wasm build (undici, pinned exactly):
// Node 20's own `methods` list stops at PRI (34) and lacks QUERY (46).

interface LlhttpConstants {
  ERROR: Record<string, number>;
  TYPE: Record<string, number>;
  METHODS: Record<string, number>;
}

export const LLHTTP = require('undici/lib/llhttp/constants.js') as LlhttpConstants;

export const METHOD_NAMES: readonly string[] = (() => {
  const names: string[] = [];
  for (const [name, id] of Object.entries(LLHTTP.METHODS)) names[id] = name;
  return names;
})();

/** The method for llhttp's id, or 'UNKNOWN' (llhttp refuses methods it does not know). */
export function methodName(id: number): string {
  return METHOD_NAMES[id] ?? 'UNKNOWN';
}
