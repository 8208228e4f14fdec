// Round trips to an Ollama-compatible endpoint: N streamed POST /api/chat, one after the other,
// each timed from the request to the end of the response body. Used by runtime_bench.sh to
// time the LLM path on its own, from the host and from inside the container (through the
// daemon's egress forwarder), with the container's own node:
//   node llm-rtt.mjs BASE_URL [N]          (or on stdin: node --input-type=module - BASE_URL [N])
// Prints {"ms": [N round trips, 0.1 ms]}. No dependencies (node >= 18: fetch).
const args = process.argv.slice(process.argv[1] === '-' || process.argv[1]?.endsWith('.mjs') ? 2 : 1);
const [base, count = '10'] = args;
const ms = [];
for (let i = 0; i < Number(count); i++) {
  const t = performance.now();
  const r = await fetch(`${base}/api/chat`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'fake', stream: true, messages: [{ role: 'user', content: `rtt probe ${i}` }] }),
  });
  await r.text();
  ms.push(Math.round((performance.now() - t) * 10) / 10);
}
console.log(JSON.stringify({ ms }));
