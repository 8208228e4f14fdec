// nostr-tools as an independent publisher and reader.
//   node client.mjs publish URL SECRET_HEX KIND CONTENT [CREATED_AT] [D_TAG]
//       signs with nostr-tools, publishes, prints the event JSON on stdout (exit 1 if refused)
//   node client.mjs publish-many URL SECRET_HEX KIND COUNT CREATED_AT   (created_at + i each)
//   node client.mjs query URL FILTER_JSON     prints stored events (one JSON per line) until EOSE
//   node client.mjs listen URL FILTER_JSON SECONDS READY_FILE
//       live events too (ephemeral kinds are never stored): creates READY_FILE at EOSE, prints
//       every event for SECONDS, then exits 0 (3 on an event that does not verify)
//   node client.mjs sign SECRET_HEX COUNT     prints COUNT signed kind-1 events, one per line
import { finalizeEvent, verifyEvent } from 'nostr-tools/pure';
import { Relay, useWebSocketImplementation } from 'nostr-tools/relay';
import WebSocket from 'ws';
const hexToBytes = (hex) => new Uint8Array(Buffer.from(hex, 'hex'));

useWebSocketImplementation(WebSocket);
const [cmd, ...args] = process.argv.slice(2);

function sign(sk, kind, content, createdAt, d) {
  const tags = d !== undefined ? [['d', d]] : [];
  return finalizeEvent({ kind, content, tags, created_at: createdAt ?? Math.floor(Date.now() / 1000) }, hexToBytes(sk));
}

if (cmd === 'publish') {
  const [url, sk, kind, content, createdAt, d] = args;
  const ev = sign(sk, Number(kind), content, createdAt ? Number(createdAt) : undefined, d);
  const relay = await Relay.connect(url);
  try {
    await relay.publish(ev);
    console.log(JSON.stringify(ev));
    relay.close();
    process.exit(0);
  } catch (e) {
    console.error(`refused: ${e.message ?? e}`);
    relay.close();
    process.exit(1);
  }
} else if (cmd === 'publish-many') {
  // publish-many URL SECRET_HEX KIND COUNT CREATED_AT: COUNT events, created_at CREATED_AT+i
  const [url, sk, kind, count, createdAt] = args;
  const relay = await Relay.connect(url);
  for (let i = 0; i < Number(count); i++) {
    const ev = sign(sk, Number(kind), `event ${i}`, Number(createdAt) + i);
    try { await relay.publish(ev); } catch (e) { console.error(`refused: ${e.message ?? e}`); process.exit(1); }
    console.log(JSON.stringify(ev));
  }
  relay.close();
  process.exit(0);
} else if (cmd === 'query') {
  const [url, filter] = args;
  const relay = await Relay.connect(url);
  const timer = setTimeout(() => { console.error('timeout waiting for EOSE'); process.exit(2); }, 10000);
  relay.subscribe([JSON.parse(filter)], {
    onevent(ev) {
      if (!verifyEvent(ev)) { console.error(`bad event ${ev.id}`); process.exit(3); }
      console.log(JSON.stringify(ev));
    },
    oneose() { clearTimeout(timer); relay.close(); process.exit(0); },
  });
} else if (cmd === 'listen') {
  const [url, filter, seconds, readyFile] = args;
  const { writeFileSync } = await import('node:fs');
  const relay = await Relay.connect(url);
  relay.subscribe([JSON.parse(filter)], {
    onevent(ev) {
      if (!verifyEvent(ev)) { console.error(`bad event ${ev.id}`); process.exit(3); }
      console.log(JSON.stringify(ev));
    },
    oneose() { writeFileSync(readyFile, 'ready\n'); },
  });
  setTimeout(() => { relay.close(); process.exit(0); }, Number(seconds) * 1000);
} else if (cmd === 'sign') {
  const [sk, count] = args;
  const now = Math.floor(Date.now() / 1000);
  const lines = [];
  for (let i = 0; i < Number(count); i++) lines.push(JSON.stringify(sign(sk, 1, `bench event ${i} ` + 'x'.repeat(i % 200), now - (i % 1000))));
  process.stdout.write(lines.join('\n') + '\n');
} else {
  console.error('usage: client.mjs publish|publish-many|query|listen|sign ...');
  process.exit(64);
}
