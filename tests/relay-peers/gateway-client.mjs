// nostr-tools as the client inside a project container, talking to the daemon's gateway.
//   node gateway-client.mjs publish URL SECRET_HEX KIND CONTENT TAGS_JSON
//       signs with nostr-tools and publishes; prints "ok" or "refused: <reason>" (exit 0 both;
//       exit 2 when the connection fails)
//   node gateway-client.mjs query URL FILTER_JSON
//       prints the stored events (one JSON per line) and then "eose"
//   node gateway-client.mjs listen URL FILTER_JSON OUT_FILE MS
//       prints "eose" once the stored part is done (nothing else on stdout), then appends
//       every event that arrives to OUT_FILE (one JSON per line) for MS milliseconds
//   node gateway-client.mjs probe URL
//       connects and sends a REQ; prints "notice: <text>", "event", "eose" and "closed" as
//       they happen; exits on close or after 5 s
//   node gateway-client.mjs resume URL FILTER_JSON OUT_FILE MS
//       a client that, like the TENEX backend's NDK, does not send its REQ again after a
//       reconnect: sends REQ "kept" once and prints "subscribed" at its EOSE; then appends to
//       OUT_FILE "dropped" when the connection drops, "reconnected" when it is back (it retries
//       every 200 ms, without a REQ) and "<sub id> <content>" for every event; exits after MS ms
import { appendFileSync } from 'node:fs';
import { finalizeEvent, verifyEvent } from 'nostr-tools/pure';
import { Relay, useWebSocketImplementation } from 'nostr-tools/relay';
import WebSocket from 'ws';

useWebSocketImplementation(WebSocket);
const hexToBytes = (hex) => new Uint8Array(Buffer.from(hex, 'hex'));
const [cmd, ...args] = process.argv.slice(2);

if (cmd === 'publish') {
  const [url, sk, kind, content, tags] = args;
  const ev = finalizeEvent({ kind: Number(kind), content, tags: JSON.parse(tags), created_at: Math.floor(Date.now() / 1000) },
    hexToBytes(sk));
  let relay;
  try { relay = await Relay.connect(url); } catch (e) { console.error(`connect: ${e.message ?? e}`); process.exit(2); }
  try {
    await relay.publish(ev);
    console.log('ok');
  } catch (e) {
    console.log(`refused: ${e.message ?? e}`);
  }
  relay.close();
  process.exit(0);
} else if (cmd === 'query' || cmd === 'listen') {
  const [url, filter, out, ms] = args;
  const relay = await Relay.connect(url);
  const timer = setTimeout(() => { console.error('timeout waiting for EOSE'); process.exit(2); }, 10000);
  let live = false;
  relay.subscribe([JSON.parse(filter)], {
    onevent(ev) {
      if (!verifyEvent(ev)) { console.error(`bad event ${ev.id}`); process.exit(3); }
      if (cmd === 'listen') { if (live) appendFileSync(out, JSON.stringify(ev) + '\n'); else console.error('stored event on listen'); }
      else console.log(JSON.stringify(ev));
    },
    oneose() {
      clearTimeout(timer);
      console.log('eose');
      if (cmd === 'query') { relay.close(); process.exit(0); }
      live = true;
      setTimeout(() => { relay.close(); process.exit(0); }, Number(ms));
    },
  });
} else if (cmd === 'probe') {
  const [url] = args;
  const ws = new WebSocket(url);
  const done = () => { console.log('closed'); process.exit(0); };
  ws.on('open', () => ws.send(JSON.stringify(['REQ', 'probe', { kinds: [0, 1, 31933] }])));
  ws.on('message', (data) => {
    const msg = JSON.parse(data.toString());
    if (msg[0] === 'NOTICE') console.log(`notice: ${msg[1]}`);
    else if (msg[0] === 'EVENT') console.log('event');
    else if (msg[0] === 'EOSE') console.log('eose');
    else console.log(`other: ${msg[0]}`);
  });
  ws.on('close', done);
  ws.on('error', (e) => { console.log(`error: ${e.message}`); });
  setTimeout(() => { console.log('timeout'); process.exit(0); }, 5000);
} else if (cmd === 'resume') {
  const [url, filter, out, ms] = args;
  const note = (line) => appendFileSync(out, line + '\n');
  let first = true;
  const connect = () => {
    const ws = new WebSocket(url);
    ws.on('open', () => {
      if (first) ws.send(JSON.stringify(['REQ', 'kept', JSON.parse(filter)]));
      else note('reconnected');
    });
    ws.on('message', (data) => {
      const msg = JSON.parse(data.toString());
      if (msg[0] === 'EOSE' && first) { first = false; console.log('subscribed'); }
      else if (msg[0] === 'EVENT') {
        if (!verifyEvent(msg[2])) { console.error(`bad event ${msg[2].id}`); process.exit(3); }
        note(`${msg[1]} ${msg[2].content}`);
      }
    });
    ws.on('close', () => { if (!first) note('dropped'); setTimeout(connect, 200); });
    ws.on('error', () => {});
  };
  connect();
  setTimeout(() => process.exit(0), Number(ms));
} else {
  console.error('usage: gateway-client.mjs publish|query|listen|probe|resume ...');
  process.exit(64);
}
