// A misbehaving relay (ws only, no relay library): answers every REQ according to MODE.
// Usage: node hostile.mjs MODE [EVENTS_FILE]   prints "ws://127.0.0.1:PORT" once listening.
//   garbage    : non-JSON, wrong shapes, unknown types, then the good events, then EOSE
//   huge       : a 4 MiB message, then the good events, then EOSE
//   badsig     : each good event also sent with a broken signature / wrong id, then EOSE
//   duplicates : each good event sent 5 times, then EOSE
//   noeose     : the good events, never EOSE
//   push       : the events of EVENTS_FILE (one JSON per line, pre-signed), then EOSE
// Good events come from EVENTS_FILE (one signed event per line) or stdin lines.
import { readFileSync } from 'node:fs';
import { WebSocketServer } from 'ws';

const [mode, file] = process.argv.slice(2);
const events = file ? readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)) : [];
const flip = (hex) => (hex[0] === '0' ? '1' : '0') + hex.slice(1);

const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, maxPayload: 64 * 1024 * 1024 });
wss.on('connection', (ws) => {
  ws.on('message', (data) => {
    let msg;
    try { msg = JSON.parse(data.toString()); } catch { return; }
    if (!Array.isArray(msg)) return;
    if (msg[0] === 'EVENT') return ws.send(JSON.stringify(['OK', msg[1].id, false, 'blocked: hostile relay']));
    if (msg[0] !== 'REQ') return;
    const sid = msg[1];
    const send = (m) => ws.send(typeof m === 'string' ? m : JSON.stringify(m));
    if (mode === 'garbage') {
      for (const g of ['not json', '{"a":1}', '[]', '[1,2,3]', '["EVENT"]', `["EVENT","${sid}"]`, `["EVENT","${sid}",42]`,
        `["EVENT","${sid}",{"id":"zz"}]`, '["WHAT","x"]', '["OK"]', '["EOSE"]', '["\u0000\uFFFF"]', '[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]', '\xff\xfe'])
        send(g);
    }
    if (mode === 'huge') send(JSON.stringify(['NOTICE', 'x'.repeat(4 * 1024 * 1024)]));
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
wss.on('listening', () => console.log(`ws://127.0.0.1:${wss.address().port}`));
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
