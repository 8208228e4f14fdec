// A misbehaving relay (ws only, no relay library): answers every REQ according to MODE.
// Usage: node hostile.mjs MODE [EVENTS_FILE]   prints "ws://127.0.0.1:PORT" once listening.
//   garbage    : non-JSON, wrong shapes, unknown types, then the good events, then EOSE
//   huge       : a 4 MiB message, then the good events, then EOSE
//   badsig     : each good event also sent with a broken signature / wrong id, then EOSE
//   duplicates : each good event sent 5 times, then EOSE
//   noeose     : the good events, never EOSE
//   auth       : NIP-42. Sends AUTH on connect; REQ gets CLOSED and EVENT gets OK false with
//                "auth-required:" until a valid kind 22242 event (nostr-tools verifyEvent, matching
//                challenge and relay tags) arrives; then serves the good events and accepts EVENTs.
//   ratelimit  : the first EVENT of each connection gets OK false "rate-limited:", later ones OK.
//   fragmented : every message in websocket fragments of at most 7 bytes (ws.send with fin
//                false, then true); before the good events an EVENT of ~2 MiB in 64 KiB
//                fragments (over the pool's limit), then the good events, then EOSE.
// Good events come from EVENTS_FILE (one signed event per line) or stdin lines.
import { readFileSync } from 'node:fs';
import { WebSocketServer } from 'ws';
import { verifyEvent } from 'nostr-tools/pure';

const [mode, file] = process.argv.slice(2);
const events = file ? readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)) : [];
const flip = (hex) => (hex[0] === '0' ? '1' : '0') + hex.slice(1);

const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, maxPayload: 64 * 1024 * 1024 });
let port = 0;
wss.on('connection', (ws) => {
  const challenge = Math.random().toString(36).slice(2);
  let authed = false;
  let events_seen = 0;
  if (mode === 'auth') ws.send(JSON.stringify(['AUTH', challenge]));
  ws.on('message', (data) => {
    let msg;
    try { msg = JSON.parse(data.toString()); } catch { return; }
    if (!Array.isArray(msg)) return;
    const whole = (m) => ws.send(typeof m === 'string' ? m : JSON.stringify(m));
    const inPieces = (m, size) => {
      const text = typeof m === 'string' ? m : JSON.stringify(m);
      for (let i = 0; i < text.length; i += size) ws.send(text.slice(i, i + size), { fin: i + size >= text.length });
    };
    const send = mode === 'fragmented' ? (m) => inPieces(m, 7) : whole;
    if (msg[0] === 'AUTH') {
      const ev = msg[1];
      const tag = (n) => (ev.tags.find((t) => t[0] === n) ?? [])[1];
      const ok = ev.kind === 22242 && verifyEvent(ev) && tag('challenge') === challenge &&
        (tag('relay') ?? '').startsWith(`ws://127.0.0.1:${port}`) && Math.abs(ev.created_at - Date.now() / 1000) < 600;
      authed = authed || ok;
      return send(['OK', ev.id, ok, ok ? '' : 'auth-required: bad AUTH event']);
    }
    if (msg[0] === 'EVENT') {
      if (mode === 'auth') return send(['OK', msg[1].id, authed, authed ? '' : 'auth-required: sign in first']);
      if (mode === 'ratelimit') return send(['OK', msg[1].id, events_seen++ > 0, events_seen > 1 ? '' : 'rate-limited: slow down']);
      return send(['OK', msg[1].id, false, 'blocked: hostile relay']);
    }
    if (msg[0] !== 'REQ') return;
    const sid = msg[1];
    if (mode === 'auth' && !authed) return send(['CLOSED', sid, 'auth-required: sign in first']);
    if (mode === 'garbage') {
      for (const g of ['not json', '{"a":1}', '[]', '[1,2,3]', '["EVENT"]', `["EVENT","${sid}"]`, `["EVENT","${sid}",42]`,
        `["EVENT","${sid}",{"id":"zz"}]`, '["WHAT","x"]', '["OK"]', '["EOSE"]', '["\u0000\uFFFF"]', '[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]', '\xff\xfe'])
        send(g);
    }
    if (mode === 'huge') send(JSON.stringify(['NOTICE', 'x'.repeat(4 * 1024 * 1024)]));
    if (mode === 'fragmented' && events.length)
      inPieces(['EVENT', sid, { ...events[0], content: 'y'.repeat(2 * 1024 * 1024) }], 64 * 1024);
    for (const ev of events) {
      if (mode === 'badsig') {
        send(['EVENT', sid, { ...ev, sig: flip(ev.sig) }]);
        send(['EVENT', sid, { ...ev, content: ev.content + '!' }]);
      }
      const copies = mode === 'duplicates' ? 5 : 1;
      for (let i = 0; i < copies; i++) send(['EVENT', sid, ev]);
    }
    if (mode !== 'noeose') send(['EOSE', sid]);
  });
});
wss.on('listening', () => { port = wss.address().port; console.log(`ws://127.0.0.1:${port}`); });
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
