// Verify throughput of nostr-tools and nostr-wasm on the same events as verify_bench (C++):
// JSON.parse + verifyEvent per event, one thread. Usage: node verify_bench.mjs EVENTS.jsonl
// Prints one JSON line {"nostr-tools": events_per_s, "nostr-wasm": events_per_s}.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const require = createRequire(join(root, 'tests', 'interop', 'package.json'));
// require.resolve may pick a CommonJS build: take named exports from it or its default.
const load = async (name) => {
  const m = await import(pathToFileURL(require.resolve(name)).href);
  return { ...(m.default ?? {}), ...m };
};

const lines = readFileSync(process.argv[2], 'utf8').split('\n').filter((l) => l.length > 0);
const { verifyEvent } = await load('nostr-tools/pure');
const { initNostrWasm } = await load('nostr-wasm');
const wasm = await initNostrWasm();

function rate(fn) {
  // Process CPU time (user + system): comparable with the C++ rows on a busy machine.
  const c0 = process.cpuUsage();
  let ok = 0;
  for (const line of lines) if (fn(JSON.parse(line))) ok++;
  const c = process.cpuUsage(c0);
  const s = (c.user + c.system) / 1e6;
  if (ok !== lines.length) throw new Error(`only ${ok} of ${lines.length} verified`);
  return lines.length / s;
}

const tools = rate((e) => verifyEvent(e));
const wasmRate = rate((e) => { wasm.verifyEvent(e); return true; });
console.log(JSON.stringify({ 'nostr-tools': tools, 'nostr-wasm': wasmRate }));
