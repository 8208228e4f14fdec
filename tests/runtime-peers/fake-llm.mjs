// A fake Ollama server for tests: answers every chat at once with a fixed text, the way the
// real one does (POST /api/chat, NDJSON streaming, or one JSON object with "stream": false).
// The TENEX backend reaches it through its "ollama" provider, whose "apiKey" in providers.json
// is the base URL (http://HOST:PORT; the provider appends /api).
// No dependencies: node's http only.
//
// Usage: node fake-llm.mjs [--port N] [--host H] [--text T] [--log FILE]
//   --port 0 (default) picks a free port; prints "http://HOST:PORT" on stdout once listening.
//   --text (or FAKE_LLM_TEXT): the answer; "{n}" in it becomes the request's sequence number.
//   A request with "format" (structured output) gets JSON instead: for a JSON schema, the
//   smallest object that satisfies it, with the text in its string fields.
//   --log FILE: one JSON line per request (method, path, model, messages count, last user
//   message) is appended there; without it they go to stderr.
// Endpoints: POST /api/chat, POST /api/generate, GET /api/tags, GET /api/version,
// POST /api/show, POST /api/embed and OpenAI's POST /v1/embeddings (small deterministic
// vectors), GET / ("Ollama is running"); and Anthropic's Messages API, POST /v1/messages
// (server-sent events when "stream" is true, as the real one: message_start, content_block_*,
// message_delta, message_stop; a forced tool_choice is answered with that tool's call, its
// input made from the tool's schema as for "format"); and OpenAI's Responses API, POST
// /v1/responses, which the backend's OpenAI client (@ai-sdk/openai 3) calls (server-sent events
// when "stream" is true: response.created, response.output_item.added,
// response.output_text.delta, response.output_item.done, response.completed; a "text.format"
// JSON schema is answered with JSON made from it).
//   --key K (or FAKE_LLM_KEY): the API key the caller must send (x-api-key or Authorization:
//   Bearer); others get 401. Each log line says whether the key matched (never the key).
// Stops on SIGTERM/SIGINT.
import { createServer } from 'node:http';
import { appendFileSync } from 'node:fs';

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
};
const port = Number(opt('port', process.env.FAKE_LLM_PORT ?? 0));
const host = opt('host', process.env.FAKE_LLM_HOST ?? '127.0.0.1');
const text = opt('text', process.env.FAKE_LLM_TEXT ?? 'Hello from the fake LLM.');
const logFile = opt('log', process.env.FAKE_LLM_LOG ?? '');
const apiKey = opt('key', process.env.FAKE_LLM_KEY ?? '');
const model = 'fake';
let seq = 0;

function log(entry) {
  const line = JSON.stringify({ t: new Date().toISOString(), ...entry }) + '\n';
  if (logFile) appendFileSync(logFile, line);
  else process.stderr.write(line);
}

// The conversation of a request: "messages" (Ollama, Anthropic) or "input" (OpenAI Responses).
function conversation(body) {
  if (Array.isArray(body.messages)) return body.messages;
  if (Array.isArray(body.input)) return body.input.filter((m) => m?.role);
  return undefined;
}

function lastUser(messages) {
  for (let i = (messages?.length ?? 0) - 1; i >= 0; i--) {
    const m = messages[i];
    if (m?.role === 'user') return typeof m.content === 'string' ? m.content : JSON.stringify(m.content);
  }
  return undefined;
}

// A small deterministic unit vector per text (8 dimensions), so similarity searches work.
function embedding(text) {
  const v = new Array(8).fill(0);
  for (let i = 0; i < text.length; i++) v[i % 8] += text.charCodeAt(i) % 31;
  v[0] += 1;
  const norm = Math.hypot(...v);
  return v.map((x) => x / norm);
}

// For structured output (Ollama's "format": a JSON schema, or "json"): the smallest object that
// satisfies the schema, strings filled with the fixed text. Enough for the backend's summaries.
function fromSchema(schema, answer, depth = 0) {
  if (!schema || typeof schema !== 'object' || depth > 8) return answer;
  if (Array.isArray(schema.enum) && schema.enum.length) return schema.enum[0];
  if (schema.const !== undefined) return schema.const;
  const alt = schema.anyOf ?? schema.oneOf;
  if (Array.isArray(alt) && alt.length) return fromSchema(alt.find((a) => a.type !== 'null') ?? alt[0], answer, depth + 1);
  const type = Array.isArray(schema.type) ? schema.type.find((t) => t !== 'null') : schema.type;
  switch (type) {
    case 'object': {
      const out = {};
      for (const [k, v] of Object.entries(schema.properties ?? {})) out[k] = fromSchema(v, answer, depth + 1);
      return out;
    }
    case 'array': return Array.from({ length: schema.minItems ?? 0 }, () => fromSchema(schema.items, answer, depth + 1));
    case 'number': case 'integer': return schema.minimum ?? 0;
    case 'boolean': return false;
    case 'null': return null;
    default: return answer;
  }
}

function readBody(req) {
  return new Promise((resolve) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      try { resolve(raw ? JSON.parse(raw) : {}); } catch { resolve({ _unparsed: raw.slice(0, 200) }); }
    });
  });
}

function json(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

// Anthropic's Messages API. A forced tool (the SDK's way to get structured output) is called
// with an input made from its schema; otherwise the answer is one text block.
function anthropic(res, body, answer) {
  const model = body.model ?? 'fake';
  const forced = body.tool_choice?.type === 'tool' ? body.tools?.find((t) => t.name === body.tool_choice.name) : undefined;
  const block = forced
    ? { type: 'tool_use', id: 'toolu_fake', name: forced.name, input: fromSchema(forced.input_schema, answer) }
    : { type: 'text', text: body.output_format?.schema ? JSON.stringify(fromSchema(body.output_format.schema, answer)) : answer };
  const stop = forced ? 'tool_use' : 'end_turn';
  const usage = { input_tokens: 1, output_tokens: 1 };
  const message = { id: 'msg_fake', type: 'message', role: 'assistant', model, stop_sequence: null };
  if (!body.stream) return json(res, 200, { ...message, content: [block], stop_reason: stop, usage });
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  const send = (type, data) => res.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`);
  send('message_start', { message: { ...message, content: [], stop_reason: null, usage } });
  if (forced) {
    send('content_block_start', { index: 0, content_block: { ...block, input: {} } });
    send('content_block_delta', { index: 0, delta: { type: 'input_json_delta', partial_json: JSON.stringify(block.input) } });
  } else {
    send('content_block_start', { index: 0, content_block: { type: 'text', text: '' } });
    send('content_block_delta', { index: 0, delta: { type: 'text_delta', text: block.text } });
  }
  send('content_block_stop', { index: 0 });
  send('message_delta', { delta: { stop_reason: stop, stop_sequence: null }, usage: { output_tokens: 1 } });
  send('message_stop', {});
  res.end();
}

// OpenAI's Responses API: one assistant message with one output_text part.
function openaiResponses(res, body, answer) {
  const format = body.text?.format;
  const out = format?.type === 'json_schema' ? JSON.stringify(fromSchema(format.schema, answer))
    : format?.type === 'json_object' ? JSON.stringify({ text: answer }) : answer;
  const response = { id: 'resp_fake', object: 'response', created_at: Math.floor(Date.now() / 1000), model: body.model ?? 'fake' };
  const item = { type: 'message', id: 'msg_fake', role: 'assistant', status: 'completed',
                 content: [{ type: 'output_text', text: out, annotations: [] }] };
  const usage = { input_tokens: 1, output_tokens: 1 };
  if (!body.stream) return json(res, 200, { ...response, status: 'completed', output: [item], usage });
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  let sequence = 0;
  const send = (type, data) => res.write(`event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: sequence++, ...data })}\n\n`);
  send('response.created', { response: { ...response, status: 'in_progress', output: [] } });
  send('response.output_item.added', { output_index: 0, item: { ...item, status: 'in_progress', content: [] } });
  send('response.output_text.delta', { item_id: item.id, output_index: 0, content_index: 0, delta: out });
  send('response.output_item.done', { output_index: 0, item });
  send('response.completed', { response: { ...response, status: 'completed', output: [item], usage } });
  res.end();
}

const server = createServer(async (req, res) => {
  const path = (req.url ?? '/').split('?')[0];
  const body = req.method === 'POST' ? await readBody(req) : {};
  const n = ++seq;
  const sent = req.headers['x-api-key'] ?? (req.headers.authorization ?? '').replace(/^Bearer /, '');
  const keyOk = apiKey ? sent === apiKey : undefined;
  log({
    n, method: req.method, path, model: body.model, stream: body.stream, key_ok: keyOk,
    messages: conversation(body)?.length,
    tools: Array.isArray(body.tools) ? body.tools.length : undefined,
    format: body.format !== undefined || body.text?.format !== undefined ? true : undefined,
    user: lastUser(conversation(body))?.slice(0, 500),
  });
  let answer = text.replaceAll('{n}', String(n));
  if (body.format === 'json') answer = JSON.stringify({ text: answer });
  else if (body.format && typeof body.format === 'object') answer = JSON.stringify(fromSchema(body.format, answer));
  const now = () => new Date().toISOString();
  const done = {
    done: true, done_reason: 'stop', total_duration: 1000, load_duration: 0,
    prompt_eval_count: 1, prompt_eval_duration: 1, eval_count: 1, eval_duration: 1,
  };

  if (keyOk === false) return json(res, 401, { error: { type: 'authentication_error', message: 'invalid x-api-key' } });
  if (req.method === 'POST' && (path === '/v1/messages' || path === '/messages')) return anthropic(res, body, answer);
  if (req.method === 'POST' && (path === '/v1/responses' || path === '/responses')) return openaiResponses(res, body, answer);
  if (req.method === 'GET' && (path === '/' || path === '')) {
    res.writeHead(200, { 'content-type': 'text/plain' });
    return res.end('Ollama is running');
  }
  if (req.method === 'GET' && path === '/api/version') return json(res, 200, { version: '0.0.0-fake' });
  if (req.method === 'GET' && path === '/api/tags') {
    return json(res, 200, { models: [{ name: model, model, modified_at: now(), size: 1, digest: '0'.repeat(64), details: {} }] });
  }
  if (req.method === 'POST' && path === '/api/show') {
    return json(res, 200, { modelfile: '', parameters: '', template: '', details: {}, model_info: {}, capabilities: ['completion', 'tools'] });
  }
  if (req.method === 'POST' && (path === '/v1/embeddings' || path === '/embeddings')) {
    // OpenAI-compatible embeddings, for the backend's embed.json (its default "local" provider
    // downloads a model from huggingface.co, and a failed download kills the backend)
    const inputs = Array.isArray(body.input) ? body.input : [body.input ?? ''];
    return json(res, 200, {
      object: 'list', model: body.model ?? model,
      data: inputs.map((s, index) => ({ object: 'embedding', index, embedding: embedding(String(s)) })),
      usage: { prompt_tokens: 1, total_tokens: 1 },
    });
  }
  if (req.method === 'POST' && path === '/api/embed') {
    const inputs = Array.isArray(body.input) ? body.input : [body.input ?? ''];
    return json(res, 200, { model: body.model ?? model, embeddings: inputs.map((s) => embedding(String(s))) });
  }
  if (req.method === 'POST' && (path === '/api/chat' || path === '/api/generate')) {
    const isChat = path === '/api/chat';
    const piece = (content, extra = {}) => isChat
      ? { model: body.model ?? model, created_at: now(), message: { role: 'assistant', content }, done: false, ...extra }
      : { model: body.model ?? model, created_at: now(), response: content, done: false, ...extra };
    if (body.stream === false) return json(res, 200, piece(answer, done));
    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    res.write(JSON.stringify(piece(answer)) + '\n');
    res.end(JSON.stringify(piece('', done)) + '\n');
    return;
  }
  json(res, 404, { error: `fake-llm: no route ${req.method} ${path}` });
});

server.listen(port, host, () => {
  const a = server.address();
  console.log(`http://${a.address.includes(':') ? `[${a.address}]` : a.address}:${a.port}`);
});
const stop = () => { server.close(() => process.exit(0)); server.closeAllConnections(); };
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
