// Runs before the TENEX backend in the tenex-runtime image. The backend starts an interactive
// setup (inquirer prompts) when config.json has no whitelistedPubkeys or llms.json has no
// configurations; in a sandbox that must never happen, so this refuses to start instead
// (exit 78, EX_CONFIG, with the reason on stderr). It also prepares what the backend would
// otherwise fetch from the internet or trip over after an unclean stop:
//   - <base>/cache/models-dev.json: an empty model catalogue with a modification time far in
//     the future, so the backend never fetches https://models.dev/api.json (it refreshes
//     when the file is older than 24 h); TENEX_MODELS_DEV=online leaves it alone;
//   - <base>/daemon/tenex.lock: removed, since it names a PID of a previous container whose
//     number the new backend process may well have again ("Daemon is already running");
//   - <base>/projects/<d>/conversations/*.json that do not parse: renamed to
//     <name>.unreadable-<epoch ms> (kept, no longer loaded). The backend rewrites a
//     conversation in place (truncate, then write), so a stop during that write leaves an
//     empty or cut file, and the backend then fails to start the project at every boot
//     ("Unexpected end of JSON input"): one lost conversation would cost the whole project.
// Warnings (not fatal) go to stderr for settings that make the backend reach out on its own.
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, utimesSync, writeFileSync, accessSync, constants } from 'node:fs';
import { join } from 'node:path';

const base = process.env.TENEX_BASE_DIR || '/tenex';
const d = process.env.TENEX_PROJECT_D || '';
const problems = [];
const warn = (m) => process.stderr.write(`tenex-runtime: warning: ${m}\n`);
const hex64 = /^[0-9a-f]{64}$/;

function readJson(name, required) {
  const p = join(base, name);
  if (!existsSync(p)) {
    if (required) problems.push(`${p} is missing`);
    return undefined;
  }
  try {
    return JSON.parse(readFileSync(p, 'utf8'));
  } catch (e) {
    problems.push(`${p}: not valid JSON (${e.message})`);
    return undefined;
  }
}

function writable(p) {
  try { accessSync(p, constants.W_OK | constants.X_OK); return true; } catch { return false; }
}

if (!d) problems.push('TENEX_PROJECT_D (the project\'s d tag) is not set');
else if (d === '.' || d === '..' || d.includes('/') || d.includes('\0')) problems.push(`TENEX_PROJECT_D "${d}" is not a single path segment`);
if (!existsSync(base)) problems.push(`TENEX_BASE_DIR ${base} does not exist (mount the project's global directory there)`);
else if (!writable(base)) problems.push(`TENEX_BASE_DIR ${base} is not writable by uid ${process.getuid()}`);

const config = readJson('config.json', true);
const llms = readJson('llms.json', true);
let projectsBase;
if (config) {
  const wl = config.whitelistedPubkeys;
  if (!Array.isArray(wl) || wl.length === 0) problems.push('config.json: whitelistedPubkeys is empty (the backend would start its interactive setup)');
  else if (!wl.every((k) => typeof k === 'string' && hex64.test(k))) problems.push('config.json: whitelistedPubkeys must be 64-character lowercase hex pubkeys');
  if (!Array.isArray(config.relays) || config.relays.length === 0 || !config.relays.every((r) => /^wss?:\/\//.test(r)))
    problems.push('config.json: relays must list ws:// or wss:// URLs (without them the backend uses wss://tenex.chat)');
  if (typeof config.tenexPrivateKey !== 'string' || !hex64.test(config.tenexPrivateKey))
    problems.push('config.json: tenexPrivateKey (the backend key, 64 hex) is missing (the backend would make one and rewrite config.json)');
  if (typeof config.projectsBase !== 'string' || !config.projectsBase.startsWith('/')) problems.push('config.json: projectsBase must be an absolute path');
  else projectsBase = config.projectsBase;
  if (config.telemetry?.enabled !== false) warn('config.json: telemetry.enabled is not false: OpenTelemetry exports traces to http://localhost:4318 (or OTEL_EXPORTER_OTLP_ENDPOINT)');
  if (config.nip46?.enabled !== false) warn('config.json: nip46.enabled is not false: the backend asks the owner\'s bunker over the relays to sign kind 14199 lists (30 s timeouts)');
}
if (llms) {
  const names = Object.keys(llms.configurations ?? {});
  if (names.length === 0) problems.push('llms.json: configurations is empty (the backend would start its interactive setup)');
  else if (llms.default !== undefined && !names.includes(llms.default)) problems.push(`llms.json: default "${llms.default}" is not one of the configurations (${names.join(', ')})`);
}
readJson('providers.json', false);
const embed = readJson('embed.json', false);
if (!embed) warn('embed.json is missing: the default embedding provider downloads Xenova/all-MiniLM-L6-v2 from huggingface.co, and the backend exits when that fails');
else if (embed.provider === undefined || embed.provider === 'local') warn('embed.json uses the local provider: its model is downloaded from huggingface.co on first use');
if (projectsBase && d) {
  const dir = join(projectsBase, d);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) problems.push(`the project directory ${dir} does not exist (mount the project there)`);
  else if (!writable(dir)) problems.push(`the project directory ${dir} is not writable by uid ${process.getuid()}`);
}

if (problems.length) {
  for (const p of problems) process.stderr.write(`tenex-runtime: ${p}\n`);
  process.stderr.write('tenex-runtime: not starting (the backend\'s interactive setup cannot run in a sandbox)\n');
  process.exit(78);
}

try {
  mkdirSync(join(base, 'cache'), { recursive: true });
  const catalogue = join(base, 'cache', 'models-dev.json');
  if (process.env.TENEX_MODELS_DEV !== 'online') {
    if (!existsSync(catalogue)) writeFileSync(catalogue, JSON.stringify({ fetchedAt: 0, data: {} }));
    const future = new Date('2100-01-01T00:00:00Z');
    utimesSync(catalogue, future, future);
  }
  rmSync(join(base, 'daemon', 'tenex.lock'), { force: true });
  mkdirSync(process.env.HOME || join(base, 'home'), { recursive: true });
  const conversations = join(base, 'projects', d, 'conversations');
  if (existsSync(conversations)) {
    for (const name of readdirSync(conversations)) {
      if (!name.endsWith('.json')) continue;
      const p = join(conversations, name);
      try {
        JSON.parse(readFileSync(p, 'utf8'));
      } catch (e) {
        const aside = `${p}.unreadable-${Date.now()}`;
        renameSync(p, aside);
        warn(`${p} is not valid JSON (${e.message}; a stop during its write?): moved to ${aside}, the project starts without that conversation`);
      }
    }
  }
} catch (e) {
  process.stderr.write(`tenex-runtime: cannot prepare ${base}: ${e.message}\n`);
  process.exit(78);
}
