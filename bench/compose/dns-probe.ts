// The yardstick for a join: when Docker's own DNS gets there. A Node process in the ha
// container asks the embedded DNS server (through getaddrinfo, as a client would) for the
// container's name every ~2 ms and prints the wall clock of the first answer. Containers share
// the host's clock, so that time compares with the benchmark's.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

const SCRIPT = `
const dns = require('node:dns');
const end = Date.now() + Number(process.argv[2]);
console.log('ready');
(function ask() {
  dns.lookup(process.argv[1], (err) => {
    if (!err) { console.log('resolved ' + (performance.timeOrigin + performance.now())); process.exit(0); }
    if (Date.now() > end) { console.log('timeout'); process.exit(1); }
    setTimeout(ask, 2);
  });
})();`;

export interface DnsProbe {
  ready: Promise<void>;
  /** Wall-clock ms when the name first resolved; undefined if it did not within the bound. */
  resolved: Promise<number | undefined>;
}

/** Starts asking from inside `container` (a running container with node) until `name` resolves or `maxMs` passes. */
export function probeDns(container: string, name: string, maxMs = 30000): DnsProbe {
  const child = spawn('docker', ['exec', container, 'node', '-e', SCRIPT, name, String(maxMs)], { stdio: ['ignore', 'pipe', 'ignore'] });
  const lines = createInterface({ input: child.stdout });
  let onReady!: () => void;
  const ready = new Promise<void>((resolve) => (onReady = resolve));
  const resolved = new Promise<number | undefined>((resolve) => {
    lines.on('line', (line) => {
      if (line === 'ready') onReady();
      const m = /^resolved ([\d.]+)$/.exec(line);
      if (m) resolve(Number(m[1]));
    });
    child.on('exit', () => {
      onReady();
      resolve(undefined);
    });
  });
  return { ready, resolved };
}
