// nostr-tools as the independent publisher of a TENEX project for the project interop test.
//   node publish.mjs PEERS_DIR URL SPEC_JSON
// SPEC_JSON: [{"sk": hex, "kind": n, "content": s, "tags": [[...]], "created_at": n?}, ...]
// Signs each with nostr-tools (finalizeEvent), publishes it to URL in order, waits for the
// relay's OK, and prints the signed event as one JSON line (exit 1 if the relay refuses).
// The packages come from tests/relay-peers (npm ci there), resolved from PEERS_DIR.
import { createRequire } from 'node:module';

const [peersDir, url, spec] = process.argv.slice(2);
const require = createRequire(`${peersDir}/package.json`);
const { finalizeEvent } = require('nostr-tools/pure');
const { Relay, useWebSocketImplementation } = require('nostr-tools/relay');
useWebSocketImplementation(require('ws'));

const relay = await Relay.connect(url);
for (const e of JSON.parse(spec)) {
  const ev = finalizeEvent({
    kind: e.kind,
    content: e.content ?? '',
    tags: e.tags ?? [],
    created_at: e.created_at ?? Math.floor(Date.now() / 1000),
  }, new Uint8Array(Buffer.from(e.sk, 'hex')));
  try {
    await relay.publish(ev);
  } catch (err) {
    console.error(`refused: ${err.message ?? err}`);
    relay.close();
    process.exit(1);
  }
  console.log(JSON.stringify(ev));
}
relay.close();
process.exit(0);
