// Verify throughput of nostr-tools and nostr-wasm on the same events as verify_bench (C++):
// JSON.parse + verifyEvent per event, one thread. Usage: node verify_bench.mjs EVENTS.jsonl
// Prints one JSON line {"nostr-tools": events_per_s, "nostr-wasm": events_per_s}.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const require = createRequire(join(root, 'tests', 'interop', 'package.json'));
const load = (name) => import(pathToFileURL(require.resolve(name)).href);

const lines = readFileSync(process.argv[2], 'utf8').split('\n').filter((l) => l.length > 0);
const { verifyEvent } = await load('nostr-tools/pure');
const { initNostrWasm } = await load('nostr-wasm');
const wasm = await initNostrWasm();

function rate(fn) {
  const t0 = process.hrtime.bigint();
  let ok = 0;
  for (const line of lines) if (fn(JSON.parse(line))) ok++;
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  if (ok !== lines.length) throw new Error(`only ${ok} of ${lines.length} verified`);
  return lines.length / s;
}

const tools = rate((e) => verifyEvent(e));
const wasmRate = rate((e) => { wasm.verifyEvent(e); return true; });
console.log(JSON.stringify({ 'nostr-tools': tools, 'nostr-wasm': wasmRate }));
