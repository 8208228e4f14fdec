// Preload for a Node.js process (NODE_OPTIONS=--import=/path/log-connections.mjs) that writes
// every outgoing TCP connection and DNS lookup it makes to CONNECTIONS_LOG (default stderr), one
// JSON line each: how the network calls of the TENEX backend were listed (see
// images/runtime/README.md). Connections are logged when they are attempted, before DNS.
import net from 'node:net';
import dns from 'node:dns';
import { appendFileSync } from 'node:fs';

const file = process.env.CONNECTIONS_LOG;
const log = (entry) => {
  const line = JSON.stringify({ t: new Date().toISOString(), pid: process.pid, ...entry }) + '\n';
  if (file) appendFileSync(file, line); else process.stderr.write(line);
};
const connect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function (...args) {
  const a = args[0];
  const o = Array.isArray(a) ? a[0] : a;
  if (o && typeof o === 'object') log({ connect: o.path ?? `${o.host ?? 'localhost'}:${o.port}` });
  else if (typeof a === 'number' || typeof a === 'string') log({ connect: `${args[1] ?? 'localhost'}:${a}` });
  return connect.apply(this, args);
};
const lookup = dns.lookup;
dns.lookup = function (host, ...rest) { log({ lookup: host }); return lookup.call(this, host, ...rest); };
const plookup = dns.promises.lookup;
dns.promises.lookup = function (host, ...rest) { log({ lookup: host }); return plookup.call(this, host, ...rest); };
