// Verifies events (one JSON per line, from a file or stdin) with nostr-tools and nostr-wasm.
// Prints per line: "<id> <tools:ok|invalid> <wasm:ok|invalid> <hash>" where hash is
// nostr-tools getEventHash (the id it computes). Usage: node verify.mjs [FILE]
import { readFileSync } from 'node:fs';
import { getEventHash, verifyEvent } from 'nostr-tools/pure';
import { initNostrWasm } from 'nostr-wasm';

const text = readFileSync(process.argv[2] ?? 0, 'utf8');
const wasm = await initNostrWasm();
for (const line of text.split('\n')) {
  if (line.trim() === '') continue;
  const tools = verifyEvent(JSON.parse(line)) ? 'ok' : 'invalid';
  let w = 'ok';
  try { wasm.verifyEvent(JSON.parse(line)); } catch { w = 'invalid'; }
  const ev = JSON.parse(line);
  process.stdout.write(`${ev.id} ${tools} ${w} ${getEventHash(ev)}\n`);
}
