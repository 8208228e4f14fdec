// The owner's side of bench/runtime/runtime_bench.sh: a Nostr client that times, to the
// millisecond, how long the TENEX backend takes to answer a message.
//
// It speaks NIP-01 directly over one websocket (the `ws` package) and signs with nostr-tools,
// both taken from tests/runtime-peers/node_modules or tests/relay-peers/node_modules (whichever
// has them; no install of its own). For every message it first opens a live subscription for
// the reply (kind 1, author = the agent, #e = the message id, known before publishing), waits
// for its EOSE, then takes the time and sends the EVENT: the measured interval is
// "EVENT frame sent" -> "reply EVENT frame received", with no polling in between.
//
//   node rt-client.mjs keygen
//       prints {"sk": hex, "pk": hex}
//   node rt-client.mjs profile --relay URL --address A [--timeout S]
//       waits for a kind 0 a-tagged with A (the agent's profile), prints the author's pubkey
//   node rt-client.mjs message --relay URL --sk HEX --address A --agent PK [--timeout S]
//                              [--since-ms EPOCH_MS] [--every MS] [--text T] [--ready]
//       publishes a root kind 1 (tags a=A, p=PK) and waits for the agent's reply. With --every,
//       publishes a fresh message every MS until one of them is answered (a backend that
//       subscribes with limit 0 never sees the messages sent before it subscribed); with --every
//       and --ready, only until the project has started (its first status, below), then one
//       more, and after that one every 3 s (at least MS) while none is answered: a backend that
//       is up is given the few messages it subscribed in time for, not a message every MS each
//       starting an agent run beside the first one's.
//       Prints {"ms": publish of the first message -> reply, "sent": messages sent, "answered":
//       index of the answered one, "answered_latency_ms": its own publish -> reply, "sent_at_ms"
//       and "reply_at_ms" (wall clock), and with --since-ms: "since_ms" (EPOCH_MS -> reply),
//       "answered_sent_since_ms" and "prev_sent_since_ms" (when the answered message and the
//       one before it, which the backend did not see, were sent)}.
//       With --ready, also "ready_ms" (and "ready_since_ms"): when the project's first status
//       (kind 24010 a-tagged A, published by the backend once the project has started) arrived.
//       Neither is printed when no status arrived before the reply.
//   node rt-client.mjs warm --relay URL --sk HEX --address A --agent PK --n N
//                           [--timeout S] [--gap MS]
//       N messages one after the other (each a new root message, the next one GAP ms after
//       the previous reply); prints {"ms": [N latencies], "messages": [{"marker": "[pid-seq]" (the
//       end of its text), "sent_at_ms", "reply_at_ms" (wall clock)}]}.
// Exits 1 with a message on stderr when no reply arrives within --timeout (default 120 s).
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';

// ---- dependencies from the test peers' node_modules ------------------------------------------
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const modules = ['tests/runtime-peers/node_modules', 'tests/relay-peers/node_modules']
  .map((m) => join(root, m))
  .find((m) => existsSync(join(m, 'nostr-tools', 'lib', 'esm', 'pure.js')) && existsSync(join(m, 'ws', 'wrapper.mjs')));
if (!modules) {
  console.error('rt-client: nostr-tools and ws not found; run npm ci in tests/relay-peers (scripts/setup)');
  process.exit(2);
}
const { finalizeEvent, generateSecretKey, getPublicKey } = await import(pathToFileURL(join(modules, 'nostr-tools/lib/esm/pure.js')));
const { default: WebSocket } = await import(pathToFileURL(join(modules, 'ws/wrapper.mjs')));

// ---- command line -----------------------------------------------------------------------------
const [cmd, ...args] = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
};
const need = (name) => {
  const v = opt(name);
  if (v === undefined) fail(`--${name} is required`, 2);
  return v;
};
function fail(message, code = 1) {
  console.error(`rt-client: ${message}`);
  process.exit(code);
}
const hexToBytes = (hex) => new Uint8Array(Buffer.from(hex, 'hex'));
const bytesToHex = (b) => Buffer.from(b).toString('hex');
const timeoutMs = Number(opt('timeout', 120)) * 1000;

if (cmd === 'keygen') {
  const sk = generateSecretKey();
  console.log(JSON.stringify({ sk: bytesToHex(sk), pk: getPublicKey(sk) }));
  process.exit(0);
}

// ---- a minimal NIP-01 connection ----------------------------------------------------------------
class Conn {
  constructor(url) {
    this.url = url;
    this.subs = new Map(); // id -> {onevent, oneose}
    this.oks = new Map(); // event id -> resolve
    this.next = 0;
  }
  open() {
    return new Promise((resolve, reject) => {
      this.ws = new WebSocket(this.url);
      this.ws.on('open', resolve);
      this.ws.on('error', reject);
      this.ws.on('close', () => { if (!this.closing) fail(`${this.url} closed the connection`); });
      this.ws.on('message', (data) => {
        let m;
        try { m = JSON.parse(data.toString()); } catch { return; }
        if (m[0] === 'EVENT') this.subs.get(m[1])?.onevent(m[2]);
        else if (m[0] === 'EOSE') this.subs.get(m[1])?.oneose?.();
        else if (m[0] === 'OK') this.oks.get(m[1])?.(m);
        else if (m[0] === 'CLOSED') this.subs.get(m[1])?.onclosed?.(m[2]);
        else if (m[0] === 'NOTICE') console.error(`rt-client: NOTICE from ${this.url}: ${m[1]}`);
      });
    });
  }
  // Opens a live subscription; resolves after its EOSE (stored events are delivered before).
  subscribe(filter, onevent) {
    const id = `s${this.next++}`;
    return new Promise((resolve, reject) => {
      this.subs.set(id, { onevent, oneose: () => resolve(id), onclosed: (why) => reject(new Error(`subscription closed: ${why}`)) });
      this.ws.send(JSON.stringify(['REQ', id, filter]));
    });
  }
  unsubscribe(id) {
    this.subs.delete(id);
    this.ws.send(JSON.stringify(['CLOSE', id]));
  }
  // Sends the EVENT; `sent` is called right after the frame is handed to the socket; resolves
  // with the relay's OK (rejects when refused).
  publish(event, sent) {
    return new Promise((resolve, reject) => {
      this.oks.set(event.id, (m) => {
        this.oks.delete(event.id);
        if (m[2] === true) resolve();
        else reject(new Error(`relay refused ${event.id}: ${m[3]}`));
      });
      this.ws.send(JSON.stringify(['EVENT', event]));
      sent?.();
    });
  }
  close() {
    this.closing = true;
    this.ws.close();
  }
}

const conn = new Conn(need('relay'));
await conn.open().catch((e) => fail(`cannot connect to ${conn.url}: ${e.message}`));

// ---- profile: the agent's pubkey from its kind 0 --------------------------------------------------
if (cmd === 'profile') {
  const address = need('address');
  const timer = setTimeout(() => fail(`no kind 0 a-tagged ${address} within ${timeoutMs / 1000} s`), timeoutMs);
  await conn.subscribe({ kinds: [0], '#a': [address] }, (ev) => {
    clearTimeout(timer);
    console.log(ev.pubkey);
    conn.close();
    process.exit(0);
  });
} else if (cmd === 'message' || cmd === 'warm') {
  const sk = hexToBytes(need('sk'));
  const address = need('address');
  const agent = need('agent');
  let seq = 0;
  const makeMessage = (text) =>
    finalizeEvent({ kind: 1, created_at: Math.floor(Date.now() / 1000), content: `${text} [${process.pid}-${seq++}]`, tags: [['a', address], ['p', agent]] }, sk);

  // One message (plus, with everyMs, a fresh one every everyMs until any is answered).
  // Resolves with {ms, answered, sent, reply, message, text (of the answered one), at, sentAts}
  // (performance.now() times).
  let onReady = null;  // set by exchange with --every and --ready: the last message, at ready
  const exchange = (text, everyMs, lastAtReady) => new Promise((resolve, reject) => {
    const pending = []; // {ev, sentAt, sub}
    let done = false;
    let repeat = null;
    const timer = setTimeout(() => {
      done = true;
      clearInterval(repeat);
      reject(new Error(`no reply from the agent ${agent.slice(0, 12)} within ${timeoutMs / 1000} s (${pending.length} message(s) sent)`));
    }, timeoutMs);
    const sendOne = async () => {
      const ev = makeMessage(text);
      const entry = { ev, sentAt: 0 };
      pending.push(entry);
      entry.sub = await conn.subscribe({ kinds: [1], authors: [agent], '#e': [ev.id] }, (reply) => {
        const at = performance.now();
        if (done || !reply.tags.some((t) => t[0] === 'e' && t[1] === ev.id)) return;
        done = true;
        clearTimeout(timer);
        clearInterval(repeat);
        for (const p of pending) if (p.sub) conn.unsubscribe(p.sub);
        resolve({ ms: at - pending[0].sentAt, answered: pending.indexOf(entry), sent: pending.length, reply, message: ev.id, text: ev.content, at,
                  sentAts: pending.map((p) => p.sentAt) });
      });
      if (done) return;
      await conn.publish(ev, () => { entry.sentAt = performance.now(); });
    };
    const repeatEvery = (ms) => { repeat = setInterval(() => { if (!done) sendOne().catch(reject); }, ms); };
    sendOne().catch(reject);
    if (everyMs > 0) repeatEvery(everyMs);
    if (everyMs > 0 && lastAtReady)
      onReady = () => {  // one now; another only if none is answered 3 s later, and so on
        clearInterval(repeat);
        if (done) return;
        sendOne().catch(reject);
        repeatEvery(Math.max(everyMs, 3000));
      };
  });

  try {
    if (cmd === 'message') {
      const sinceMs = opt('since-ms');
      const every = Number(opt('every', 0));
      // --ready: also note when the project's first status (kind 24010, a-tagged with the
      // project; the backend publishes it when the project has started) arrives. An ephemeral
      // kind, so the live subscription sees only new ones.
      let readyAt = null;
      if (args.includes('--ready')) {
        let live = false;
        await conn.subscribe({ kinds: [24010], '#a': [address] }, () => {
          if (!live || readyAt !== null) return;
          readyAt = performance.now();
          onReady?.();
        });
        live = true;
      }
      const r = await exchange(opt('text', 'Hello, agent!'), every, args.includes('--ready'));
      // Wall-clock times (performance.timeOrigin + a performance.now() value), to compare with
      // --since-ms and with the engine's timestamps.
      const wall = (t) => Math.round(performance.timeOrigin + t);
      const out = {
        ms: Math.round(r.ms), sent: r.sent, answered: r.answered, message: r.message, reply: r.reply.id, content: r.reply.content,
        sent_at_ms: wall(r.sentAts[0]), reply_at_ms: wall(r.at),
        answered_latency_ms: Math.round(r.at - r.sentAts[r.answered]), // the answered message's own send -> reply
      };
      if (readyAt !== null) out.ready_ms = Math.round(readyAt - r.sentAts[0]);
      if (sinceMs !== undefined) {
        const since = (t) => wall(t) - Number(sinceMs);
        out.since_ms = since(r.at);
        if (readyAt !== null) out.ready_since_ms = since(readyAt);
        out.answered_sent_since_ms = since(r.sentAts[r.answered]);
        // The message before the answered one was not seen: the backend subscribed after it.
        out.prev_sent_since_ms = r.answered > 0 ? since(r.sentAts[r.answered - 1]) : null;
      }
      console.log(JSON.stringify(out));
    } else {
      const n = Number(opt('n', 10));
      const gap = Number(opt('gap', 1000));
      const ms = [];
      const messages = []; // per message: the marker in its text, wall-clock send and reply times
      for (let i = 0; i < n; i++) {
        const r = await exchange(`Warm message ${i + 1} of ${n}`);
        ms.push(Math.round(r.ms));
        messages.push({
          marker: r.text.match(/\[[0-9]+-[0-9]+\]$/)?.[0],
          sent_at_ms: Math.round(performance.timeOrigin + r.sentAts[0]),
          reply_at_ms: Math.round(performance.timeOrigin + r.at),
        });
        console.error(`rt-client: warm ${i + 1}/${n}: ${Math.round(r.ms)} ms`);
        if (i + 1 < n) await new Promise((res) => setTimeout(res, gap));
      }
      console.log(JSON.stringify({ ms, messages }));
    }
    conn.close();
    process.exit(0);
  } catch (e) {
    fail(e.message);
  }
} else {
  fail('usage: node rt-client.mjs keygen | profile ... | message ... | warm ...', 2);
}
