// The client side of bench_gateway (bench/gateway/gateway_bench.cpp): every project
// container's websocket to the gateway, the same client subscribed straight to the upstream
// relay, and the publisher of the floods, in one process on one clock (performance.now()).
//
//   node clients.mjs UPSTREAM_URL WORLD_JSON PROJECTS EVENTS RATE [FLOOR_URL]
//
// FLOOR_URL: a bare TCP forwarder to the relay (the bench's floor: one extra process hop that
// copies bytes and does nothing else); the same subscriptions on one websocket per project
// through it make a third path, "floor", opened with the direct ones.
//
// Talks to the bench on stdin/stdout, one line each:
//   out "direct-ready"         world written to WORLD_JSON (owner, projects, agent pubkeys),
//                              one direct connection per project with its 3 subscriptions at
//                              EOSE (and one through FLOOR_URL, if given)
//   in  "gateway FILE"         FILE: {"urls":[...]} (project i's gateway URL with its secret)
//   out "ready"                one gateway connection per project, 3 subscriptions each, EOSE
//   in  "sign F"               out "signed F": flood F made and signed (just before it, so
//                              its created_at is current and its signing is not timed)
//   in  "flood F"              publish flood F (EVENTS events at RATE/s) on the upstream relay
//   out "flood-done F JSON"    every in-scope event arrived on both paths (or 5 s passed after
//                              the last one), plus 1 s for stragglers; JSON: counts
//   in  "owner N RATE"         publish N of the owner's kind 24030 without tags at RATE/s: each
//                              matches every project's `o` and is in no project's scope (it
//                              fills the gateway's per-subscription dedup sets); out
//                              "owner-done JSON" once the direct clients got N x PROJECTS
//                              copies (or 10 s after the last)
//   in  "report"               out "report JSON": latencies and counts of every flood; exits
//
// A project's subscriptions are the TENEX backend's live ones (images/runtime/README.md):
//   a: {"#a":[<address>],"limit":0}   p: {"#p":[<agents>],"limit":0}
//   o: {"kinds":[31933,24020,24030],"authors":[<owner>],"limit":0}
// The direct connections are opened before the daemon's pool connects to the relay.
// Each flood of 10,000: 1% in scope of exactly one project (per 100: 50 a third party's notes
// a-tagging it, 40 a third party's notes p-tagging one of its agents, 10 the owner's kind 24020
// a-tagging it, which also match every project's `o`), 1% traps that match some project's
// subscription upstream but are in no project's scope (50 a-tagging two projects: rule D2; 40
// written by another project's agent: D3; 10 the owner's kind 31933 of a project the daemon
// does not serve, matching every `o`: D1), the rest out of every scope and every filter
// (untagged notes, notes for another owner's projects, reactions). Every event is made for one project or none, so a
// gateway connection that receives an event not made for its project is an out-of-scope
// delivery.
import { createInterface } from 'node:readline';
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const require = createRequire(join(root, 'tests', 'relay-peers', 'package.json'));
const load = async (name) => {
  const m = await import(pathToFileURL(require.resolve(name)).href);
  return { ...(m.default ?? {}), ...m };
};
const WebSocket = (await import(pathToFileURL(require.resolve('ws')).href)).default;
const { initNostrWasm } = await load('nostr-wasm');
const wasm = await initNostrWasm();

const [upstreamUrl, worldPath, nProjects, nEvents, rate, floorUrl] = process.argv.slice(2);
const P = Number(nProjects), N = Number(nEvents), RATE = Number(rate);
const log = (...a) => console.error('clients:', ...a);

// ---------- the world ----------
const hex = (b) => Buffer.from(b).toString('hex');
const key = () => { const sk = wasm.generateSecretKey(); return { sk, pk: hex(wasm.getPublicKey(sk)) }; };
const owner = key(), otherOwner = key();
const strangers = Array.from({ length: 32 }, key);
const projects = Array.from({ length: P }, (_, i) => ({
  address: `31933:${owner.pk}:bench-${i}`,
  agents: [key(), key()],
}));
writeFileSync(worldPath, JSON.stringify({
  owner: owner.pk,
  projects: projects.map((p) => ({ address: p.address, agents: p.agents.map((a) => a.pk) })),
}));

// A small seeded PRNG, so every run publishes the same mix in the same order.
let seed = 15;
const rnd = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648; };
const pick = (arr) => arr[Math.floor(rnd() * arr.length)];
const randomHex = () => hex(Array.from({ length: 32 }, () => Math.floor(rnd() * 256)));

// meta by event id: { flood, target (project index or -1), cls }
const meta = new Map();
const sign = (k, kind, tags, content) => {
  const ev = { kind, tags, content, created_at: Math.floor(Date.now() / 1000), id: '', pubkey: '', sig: '' };
  wasm.finalizeEvent(ev, k.sk);
  return ev;
};
function makeFlood(f) {
  const out = [];
  const add = (ev, target, cls) => { meta.set(ev.id, { flood: f, target, cls }); out.push(ev); };
  const nIn = Math.round(N / 100), nTrap = Math.round(N / 100);
  for (let i = 0; i < nIn; ++i) {
    const t = (f * nIn + i) % P, p = projects[t];
    const content = `flood ${f} in-scope ${i}`;
    if (i % 10 === 9) add(sign(owner, 24020, [['a', p.address]], content), t, 'owner-24020');
    else if (i % 2 === 0) add(sign(pick(strangers), 1, [['a', p.address]], content), t, 'a-tag');
    else add(sign(pick(strangers), 1, [['p', p.agents[(i >> 1) % 2].pk]], content), t, 'p-tag');
  }
  for (let j = 0; j < nTrap; ++j) {
    const t = Math.floor(rnd() * P), q = (t + 1 + Math.floor(rnd() * (P - 1))) % P;
    const content = `flood ${f} trap ${j}`;
    if (j % 10 === 9) add(sign(owner, 31933, [['d', `offline-${f}-${j}`]], content), -1, 'trap-D1');
    else if (j % 2 === 0)
      add(sign(pick(strangers), 1, [['a', projects[t].address], ['a', projects[q].address]], content), -1, 'trap-D2');
    else add(sign(projects[q].agents[0], 1, [['p', projects[t].agents[1].pk]], content), -1, 'trap-D3');
  }
  for (let k = out.length; k < N; ++k) {
    const content = `flood ${f} noise ${k}`;
    const r = k % 3;
    if (r === 0) add(sign(pick(strangers), 1, [], content), -1, 'noise');
    else if (r === 1) add(sign(pick(strangers), 1, [['a', `31933:${otherOwner.pk}:x-${k % 50}`]], content), -1, 'noise');
    else add(sign(pick(strangers), 7, [['e', randomHex()], ['p', randomHex()]], '+'), -1, 'noise');
  }
  for (let i = out.length - 1; i > 0; --i) {  // shuffle: in-scope events spread over the flood
    const j = Math.floor(rnd() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}
const floods = [];

// ---------- receiving ----------
// first[path][project] : Map event id -> receive time (the first copy; an event can match two
// subscriptions of a connection, e.g. the owner's 24020 on `a` and `o`).
const paths = floorUrl ? ['gateway', 'direct', 'floor'] : ['gateway', 'direct'];
const perPath = (make) => Object.fromEntries(paths.map((p) => [p, make(p)]));
const first = perPath(() => projects.map(() => new Map()));
const copies = perPath(() => 0);
const unknown = perPath(() => 0);
const outOfScope = [];  // { project, id, cls }
const notices = [];
const sentAt = new Map();  // event id -> performance.now() just before the send

function onMessage(path, i, data) {
  const t = performance.now();
  let msg;
  try { msg = JSON.parse(data.toString()); } catch { return notices.push(`${path} ${i}: not JSON`); }
  if (msg[0] === 'EVENT') {
    const ev = msg[2];
    ++copies[path];
    const m = meta.get(ev.id);
    if (!m) { ++unknown[path]; return; }
    if (path === 'gateway' && m.target !== i) outOfScope.push({ project: i, id: ev.id, cls: m.cls });
    if (!first[path][i].has(ev.id)) first[path][i].set(ev.id, t);
  } else if (msg[0] === 'EOSE') {
    eose(path);
  } else if (msg[0] !== 'OK') {
    notices.push(`${path} ${i}: ${data.toString().slice(0, 200)}`);
    log(`${path} ${i}: ${data.toString().slice(0, 200)}`);
  }
}

const eoseLeft = perPath(() => P * 3);
const eoseWaiters = {};
function eose(path) {
  if (--eoseLeft[path] === 0 && eoseWaiters[path]) eoseWaiters[path]();
}
function connectAll(path, urls) {
  return new Promise((resolve, reject) => {
    eoseWaiters[path] = resolve;
    urls.forEach((url, i) => {
      const p = projects[i];
      const ws = new WebSocket(url);
      ws.on('open', () => {
        ws.send(JSON.stringify(['REQ', 'a', { '#a': [p.address], limit: 0 }]));
        ws.send(JSON.stringify(['REQ', 'p', { '#p': p.agents.map((a) => a.pk), limit: 0 }]));
        ws.send(JSON.stringify(['REQ', 'o', { kinds: [31933, 24020, 24030], authors: [owner.pk], limit: 0 }]));
      });
      ws.on('message', (data) => onMessage(path, i, data));
      ws.on('error', (e) => { log(`${path} ${i}: ${e.message}`); reject(e); });
      ws.on('close', () => { if (!stopping) notices.push(`${path} ${i}: closed`); });
      sockets.push(ws);
    });
  });
}
const sockets = [];
let stopping = false;

// ---------- publishing ----------
const publisher = new WebSocket(upstreamUrl);
let oks = 0, refused = 0;
const refusals = [];
publisher.on('message', (data) => {
  const msg = JSON.parse(data.toString());
  if (msg[0] !== 'OK') return;
  if (msg[2]) ++oks;
  else { ++refused; if (refusals.length < 5) refusals.push(msg[3]); }
});
await new Promise((resolve, reject) => { publisher.on('open', resolve); publisher.on('error', reject); });

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const floodStats = [];

function arrivedEverywhere(f) {
  for (const ev of floods[f]) {
    const m = meta.get(ev.id);
    if (m.target < 0) continue;
    for (const path of paths) if (!first[path][m.target].has(ev.id)) return false;
  }
  return true;
}

async function flood(f) {
  const events = floods[f];
  const okBefore = oks + refused;
  const copiesBefore = { ...copies };
  const t0 = performance.now();
  let sent = 0;
  while (sent < events.length) {
    const due = Math.min(events.length, Math.floor(((performance.now() - t0) / 1000) * RATE) + 1);
    for (; sent < due; ++sent) {
      const ev = events[sent];
      sentAt.set(ev.id, performance.now());
      publisher.send(JSON.stringify(['EVENT', ev]));
    }
    await sleep(2);
  }
  const publishMs = performance.now() - t0;
  const deadline = performance.now() + 5000;
  while (performance.now() < deadline && (!arrivedEverywhere(f) || oks + refused - okBefore < events.length))
    await sleep(20);
  await sleep(1000);  // anything out of scope still on its way
  const s = {
    flood: f, publish_ms: publishMs, settle_ms: performance.now() - t0 - publishMs,
    oks: oks + refused - okBefore, refused,
    copies: perPath((p) => copies[p] - copiesBefore[p]),
  };
  floodStats.push(s);
  return s;
}

async function ownerEvents(n, perSecond) {
  const events = [];
  for (let i = 0; i < n; ++i) {
    const ev = sign(owner, 24030, [], `owner ${i}`);
    meta.set(ev.id, { flood: -1, target: -1, cls: 'owner-24030' });
    events.push(ev);
  }
  const before = { ...copies };
  const t0 = performance.now();
  let sent = 0;
  while (sent < n) {
    const due = Math.min(n, Math.floor(((performance.now() - t0) / 1000) * perSecond) + 1);
    for (; sent < due; ++sent) publisher.send(JSON.stringify(['EVENT', events[sent]]));
    await sleep(5);
  }
  const publishMs = performance.now() - t0;
  const deadline = performance.now() + 10000;
  while (performance.now() < deadline && copies.direct - before.direct < n * P) await sleep(20);
  await sleep(1000);
  return {
    publish_ms: publishMs,
    copies: { gateway: copies.gateway - before.gateway, direct: copies.direct - before.direct },
  };
}

function report() {
  const samples = [];  // per in-scope event: latency on each path (null: never arrived)
  for (let f = 0; f < floods.length; ++f)
    for (const ev of floods[f] ?? []) {
      const m = meta.get(ev.id);
      if (m.target < 0 || !sentAt.has(ev.id)) continue;
      const at = sentAt.get(ev.id);
      const lat = (path) => { const t = first[path][m.target].get(ev.id); return t === undefined ? null : t - at; };
      samples.push({ flood: f, cls: m.cls, ...perPath(lat) });
    }
  return {
    samples, floods: floodStats, copies, unknown, out_of_scope: outOfScope.length,
    out_of_scope_examples: outOfScope.slice(0, 5), notices: notices.slice(0, 10), notice_count: notices.length,
    refusals, eose_left: eoseLeft,
  };
}

// ---------- the conversation with the bench ----------
await connectAll('direct', projects.map(() => upstreamUrl));
if (floorUrl) await connectAll('floor', projects.map(() => floorUrl));
console.log('direct-ready');
const rl = createInterface({ input: process.stdin });
for await (const line of rl) {
  const [cmd, arg] = line.split(' ');
  if (cmd === 'gateway') {
    const { urls } = JSON.parse(readFileSync(arg, 'utf8'));
    await connectAll('gateway', urls);
    console.log('ready');
  } else if (cmd === 'sign') {
    floods[Number(arg)] = makeFlood(Number(arg));
    console.log(`signed ${arg}`);
  } else if (cmd === 'flood') {
    const s = await flood(Number(arg));
    console.log(`flood-done ${arg} ${JSON.stringify(s)}`);
  } else if (cmd === 'owner') {
    const s = await ownerEvents(Number(arg), Number(line.split(' ')[2]));
    console.log(`owner-done ${JSON.stringify(s)}`);
  } else if (cmd === 'report') {
    console.log(`report ${JSON.stringify(report())}`);
    break;
  }
}
stopping = true;
for (const ws of sockets) ws.terminate();
publisher.terminate();
process.exit(0);
