// A plain TCP forwarder on loopback, to make a relay connection go silent without closing:
// SIGSTOP this process and every byte stops (the kernel keeps the sockets open); SIGCONT and
// it forwards again.
// Usage: node proxy.mjs TARGET_PORT   prints "ws://127.0.0.1:PORT" once listening.
import { createServer, connect } from 'node:net';

const target = Number(process.argv[2]);
const server = createServer((client) => {
  const upstream = connect(target, '127.0.0.1');
  client.pipe(upstream);
  upstream.pipe(client);
  const close = () => { client.destroy(); upstream.destroy(); };
  client.on('error', close);
  upstream.on('error', close);
  client.on('close', close);
  upstream.on('close', close);
});
server.listen(0, '127.0.0.1', () => console.log(`ws://127.0.0.1:${server.address().port}`));
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
