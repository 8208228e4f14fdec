// The owner's side of a TENEX conversation, for tests and manual proofs with the real backend.
//   node scenario.mjs keygen
//       prints {"sk": hex, "pk": hex}
//   node scenario.mjs project --relay URL --sk HEX --d D [--title T] [--agent-title A]
//       publishes a kind 4199 agent definition and a kind 31933 project naming it in an
//       "agent" tag; prints {"agent": 4199 id, "project": 31933 id, "address": "31933:pk:d"}
//   node scenario.mjs message --relay URL --sk HEX --d D [--agent PK] [--text T] [--wait S]
//                             [--expect TEXT]
//       publishes a kind 1 tagged ["a", "31933:<pk>:<d>"] and ["p", <agent pubkey>] and waits up
//       to S seconds (default 60) for a kind 1 that e-tags it from another author (and contains
//       TEXT when given); prints {"message": id, "agent": pk, "reply": event, "ms": latency} and
//       exits 0, or exits 1 on timeout. The backend creates a conversation only for a root
//       message that p-tags one of the project's agents: without --agent, the agent's pubkey is
//       taken from the kind 0 profile the backend publishes for it (tags ["a", address] and
//       ["e", <4199 id>]), waiting for it up to S seconds too.
// Each command connects to the relay, waits for OK from it, and exits.
import { finalizeEvent, generateSecretKey, getPublicKey } from 'nostr-tools/pure';
import { Relay, useWebSocketImplementation } from 'nostr-tools/relay';
import { bytesToHex, hexToBytes } from 'nostr-tools/utils';
import WebSocket from 'ws';

useWebSocketImplementation(WebSocket);

const [cmd, ...args] = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
};
const need = (name) => {
  const v = opt(name);
  if (v === undefined) { console.error(`scenario: --${name} is required`); process.exit(2); }
  return v;
};
const now = () => Math.floor(Date.now() / 1000);

async function publish(relay, sk, template) {
  const ev = finalizeEvent({ created_at: now(), content: '', tags: [], ...template }, sk);
  await relay.publish(ev);
  return ev;
}

if (cmd === 'keygen') {
  const sk = generateSecretKey();
  console.log(JSON.stringify({ sk: bytesToHex(sk), pk: getPublicKey(sk) }));
  process.exit(0);
}

const relay = await Relay.connect(need('relay'));
const sk = hexToBytes(need('sk'));
const pk = getPublicKey(sk);
const d = need('d');
const address = `31933:${pk}:${d}`;

if (cmd === 'project') {
  const title = opt('title', d);
  const agentTitle = opt('agent-title', 'Helper');
  const slug = agentTitle.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
  const agent = await publish(relay, sk, {
    kind: 4199,
    content: '',
    tags: [
      ['d', slug],
      ['title', agentTitle],
      ['role', 'assistant'],
      ['description', `${agentTitle}: answers the owner's messages`],
      ['instructions', 'Answer the user briefly.'],
      ['use-criteria', 'Any message'],
      ['ver', '1'],
    ],
  });
  const project = await publish(relay, sk, {
    kind: 31933,
    content: `Test project ${d}`,
    tags: [['d', d], ['title', title], ['agent', agent.id]],
  });
  console.log(JSON.stringify({ agent: agent.id, project: project.id, address }));
  relay.close();
  process.exit(0);
}

if (cmd === 'message') {
  const text = opt('text', 'Hello, agent!');
  const wait = Number(opt('wait', 60)) * 1000;
  const expect = opt('expect');
  let agent = opt('agent');
  if (!agent) {
    agent = await new Promise((resolve) => {
      const t = setTimeout(() => resolve(null), wait);
      const sub = relay.subscribe([{ kinds: [0], '#a': [address] }], {
        onevent(ev) { clearTimeout(t); sub.close(); resolve(ev.pubkey); },
      });
    });
    if (!agent) {
      console.error(`scenario: no agent profile (kind 0 with #a ${address}) within ${wait} ms`);
      process.exit(1);
    }
  }
  const started = Date.now();
  const msg = finalizeEvent({ kind: 1, created_at: now(), content: text, tags: [['a', address], ['p', agent]] }, sk);
  let done = false;
  const timer = setTimeout(() => {
    if (done) return;
    console.log(JSON.stringify({ message: msg.id, agent, reply: null, ms: Date.now() - started }));
    process.exit(1);
  }, wait);
  relay.subscribe([{ kinds: [1], '#e': [msg.id] }], {
    onevent(ev) {
      if (done || ev.pubkey === pk) return;
      if (expect !== undefined && !ev.content.includes(expect)) {
        console.error(`scenario: other reply from ${ev.pubkey.slice(0, 8)}: ${ev.content.slice(0, 200)}`);
        return;
      }
      done = true;
      clearTimeout(timer);
      console.log(JSON.stringify({ message: msg.id, agent, reply: ev, ms: Date.now() - started }));
      relay.close();
      process.exit(0);
    },
  });
  await relay.publish(msg);
} else {
  console.error('usage: node scenario.mjs keygen | project ... | message ...');
  process.exit(2);
}
