// Signs fresh events with hard content using nostr-tools, one JSON line each:
// {"secret_key":hex,"event":{...},"npub":..,"nsec":..,"naddr":..,"hash":getEventHash}.
// Usage: node sign_hard.mjs [COUNT]
import { finalizeEvent, generateSecretKey, getEventHash, getPublicKey } from 'nostr-tools/pure';
import * as nip19 from 'nostr-tools/nip19';

const count = Number(process.argv[2] ?? 200);
let seed = 12345;
const rnd = (n) => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n; };

const pieces = [
  '"', '\\', '\n', '\r', '\t', '\b', '\f', '\u0000', '\u0001', '\u001f', '\u007f', '/', '</script>',
  '\u2028', '\u2029', 'é', 'ü', '中文', '😀', '👩‍👩‍👧', '\ud83d\ude00', '\uffff', '\u0080', '{"json":[1,2]}',
  ' ', 'plain', '\\u0041', '%s', '\u00a0',
];
function hard(maxPieces) {
  let s = '';
  const n = rnd(maxPieces + 1);
  for (let i = 0; i < n; i++) s += pieces[rnd(pieces.length)];
  return s;
}
const kinds = [0, 1, 3, 4199, 4200, 9999, 10002, 24000, 24010, 30023, 31933, 39999, 65535];

for (let i = 0; i < count; i++) {
  const sk = generateSecretKey();
  const pk = getPublicKey(sk);
  const kind = kinds[i % kinds.length];
  const d = i % 5 === 0 ? '' : 'proj:' + hard(4);
  const tags = [['d', d], ['a', `31933:${pk}:${d}`], ['t', hard(3)], ['p', pk, 'wss://relay.example/', hard(2)]];
  for (let k = 0; k < rnd(4); k++) tags.push([hard(2), hard(5)]);
  if (i % 7 === 0) tags.push([]);
  let content = hard(30);
  if (i % 20 === 0) content += 'x'.repeat(3000) + hard(10);
  const created_at = i % 11 === 0 ? 0 : 1700000000 + rnd(100000000);
  const event = finalizeEvent({ kind, created_at, tags, content }, sk);
  const relays = i % 3 === 0 ? [] : ['wss://relay.tenex.chat', 'wss://r' + i + '.example'];
  const out = {
    secret_key: Buffer.from(sk).toString('hex'),
    event,
    hash: getEventHash(event),
    npub: nip19.npubEncode(pk),
    nsec: nip19.nsecEncode(sk),
    note: nip19.noteEncode(event.id),
    naddr: nip19.naddrEncode({ kind, pubkey: pk, identifier: d, relays }),
    relays,
    nevent: nip19.neventEncode({ id: event.id, relays, author: pk, kind }),
    nprofile: nip19.nprofileEncode({ pubkey: pk, relays }),
  };
  process.stdout.write(JSON.stringify(out) + '\n');
}
