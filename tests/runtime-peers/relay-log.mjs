// A websocket proxy in front of a Nostr relay that writes down what a client sends: every REQ
// with its filters, CLOSE, EVENT (kind, id, author, tags) and AUTH, one JSON line each; from the
// relay it logs OK, NOTICE, CLOSED and EOSE. Used to find out exactly which subscriptions the
// TENEX backend opens (the gateway must let them through) and what it publishes.
// Usage: node relay-log.mjs UPSTREAM_WS_URL [--port N] [--host H] [--log FILE]
//   prints "ws://HOST:PORT" on stdout once listening; lines go to FILE (default stderr).
// Stops on SIGTERM/SIGINT.
import { appendFileSync } from 'node:fs';
import { WebSocketServer, WebSocket } from 'ws';

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
};
const upstream = args[0];
if (!upstream || upstream.startsWith('--')) {
  console.error('usage: node relay-log.mjs UPSTREAM_WS_URL [--port N] [--host H] [--log FILE]');
  process.exit(2);
}
const logFile = opt('log', '');
let conns = 0;

function log(entry) {
  const line = JSON.stringify({ t: new Date().toISOString(), ...entry }) + '\n';
  if (logFile) appendFileSync(logFile, line);
  else process.stderr.write(line);
}

function describe(dir, conn, raw) {
  let m;
  try { m = JSON.parse(raw); } catch { return log({ conn, dir, unparsed: String(raw).slice(0, 200) }); }
  if (!Array.isArray(m)) return log({ conn, dir, unparsed: String(raw).slice(0, 200) });
  const [type, a, ...rest] = m;
  if (dir === 'out') {
    if (type === 'REQ') return log({ conn, dir, type, sub: a, filters: rest });
    if (type === 'EVENT') return log({ conn, dir, type, kind: a?.kind, id: a?.id, pubkey: a?.pubkey, tags: a?.tags, content: String(a?.content ?? '').slice(0, 300) });
    if (type === 'AUTH') return log({ conn, dir, type, kind: a?.kind });
    return log({ conn, dir, type, arg: a });
  }
  if (type === 'EVENT') return; // delivered events: too many; the REQs say what was asked
  return log({ conn, dir, type, arg: a, rest });
}

const wss = new WebSocketServer({ port: Number(opt('port', 0)), host: opt('host', '127.0.0.1') });
wss.on('listening', () => {
  const a = wss.address();
  console.log(`ws://${a.address}:${a.port}`);
});
wss.on('connection', (client, req) => {
  const conn = ++conns;
  log({ conn, dir: 'open', from: req.socket.remoteAddress });
  const up = new WebSocket(upstream);
  const pending = [];
  up.on('open', () => { for (const p of pending) up.send(p); pending.length = 0; });
  client.on('message', (data) => {
    const s = data.toString();
    describe('out', conn, s);
    if (up.readyState === WebSocket.OPEN) up.send(s); else pending.push(s);
  });
  up.on('message', (data) => {
    const s = data.toString();
    describe('in', conn, s);
    if (client.readyState === WebSocket.OPEN) client.send(s);
  });
  const close = () => { log({ conn, dir: 'close' }); client.terminate(); up.terminate(); };
  client.on('close', close);
  up.on('close', close);
  client.on('error', () => {});
  up.on('error', () => {});
});
const stop = () => { for (const c of wss.clients) c.terminate(); wss.close(() => process.exit(0)); };
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
