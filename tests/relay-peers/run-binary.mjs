// Runs a program and forwards its stdout; stops it on SIGTERM. Lets the C++ tests start the
// tenex-sandbox binary with the same launcher as the node peers.
import { spawn } from 'node:child_process';

const [program, ...args] = process.argv.slice(2);
const child = spawn(program, args, { stdio: ['ignore', 'pipe', 'inherit'] });
child.stdout.pipe(process.stdout);
child.on('exit', (code) => process.exit(code ?? 1));
const stop = () => child.kill('SIGTERM');
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
