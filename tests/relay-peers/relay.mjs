// A real Nostr relay nobody here wrote: @nostr-relay/core served over `ws`, with a small
// in-memory event repository (the one piece the library leaves to its users).
// Usage: node relay.mjs [PORT] [--tls CERT_PEM KEY_PEM]   (PORT 0 or absent: a free port)
// Prints "ws://127.0.0.1:PORT" on stdout once listening (with --tls: "wss://localhost:PORT",
// served by node's https with that certificate); stops on SIGTERM/SIGINT.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { WebSocketServer } from 'ws';
import { NostrRelay } from '@nostr-relay/core';
import { EventRepository, EventUtils, EventType } from '@nostr-relay/common';

class MemoryRepository extends EventRepository {
  constructor() { super(); this.events = new Map(); }
  isSearchSupported() { return false; }
  keyOf(e) {
    const t = EventUtils.getType(e.kind);
    if (t === EventType.REPLACEABLE) return `${e.kind}:${e.pubkey}:`;
    if (t === EventType.PARAMETERIZED_REPLACEABLE) return `${e.kind}:${e.pubkey}:${EventUtils.extractDTagValue(e) ?? ''}`;
    return null;
  }
  upsert(e) {
    if (this.events.has(e.id)) return { isDuplicate: true };
    const key = this.keyOf(e);
    if (key) {
      for (const [id, old] of this.events) {
        if (this.keyOf(old) !== key) continue;
        const newer = e.created_at > old.created_at || (e.created_at === old.created_at && e.id < old.id);
        if (!newer) return { isDuplicate: true };
        this.events.delete(id);
      }
    }
    this.events.set(e.id, e);
    return { isDuplicate: false };
  }
  find(filter) {
    const out = [...this.events.values()]
      .filter((e) => EventUtils.isMatchingFilter(e, filter))
      .sort((a, b) => b.created_at - a.created_at || (a.id < b.id ? -1 : 1));
    return filter.limit !== undefined ? out.slice(0, filter.limit) : out;
  }
  async destroy() {}
}

const args = process.argv.slice(2);
const tlsAt = args.indexOf('--tls');
const tls = tlsAt >= 0 ? { cert: readFileSync(args[tlsAt + 1]), key: readFileSync(args[tlsAt + 2]) } : null;
if (tlsAt >= 0) args.splice(tlsAt, 3);
const port = Number(args[0] ?? 0);
const relay = new NostrRelay(new MemoryRepository(), { maxSubscriptionsPerClient: 50 });
const https = tls ? createServer(tls) : null;
const wss = https ? new WebSocketServer({ server: https }) : new WebSocketServer({ host: '127.0.0.1', port });
wss.on('connection', (ws) => {
  relay.handleConnection(ws);
  ws.on('message', async (data) => {
    let msg;
    try { msg = JSON.parse(data.toString()); } catch { return ws.send('["NOTICE","invalid: not JSON"]'); }
    if (!Array.isArray(msg)) return ws.send('["NOTICE","invalid: not an array"]');
    try { await relay.handleMessage(ws, msg); } catch (e) { ws.send(JSON.stringify(['NOTICE', `error: ${e.message}`])); }
  });
  ws.on('close', () => relay.handleDisconnect(ws));
});
if (https) https.listen(port, '127.0.0.1', () => console.log(`wss://localhost:${https.address().port}`));
else wss.on('listening', () => console.log(`ws://127.0.0.1:${wss.address().port}`));
const stop = () => { for (const c of wss.clients) c.terminate(); wss.close(() => process.exit(0)); };
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
