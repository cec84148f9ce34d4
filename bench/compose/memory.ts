// Resident memory of the product's processes inside the running containers (`docker top`):
// registrars, renderer, HAProxy's master and current worker, etcd.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { type ComposeStack, docker } from '../../harness/compose.js';
import { round, smapsRollupMb } from '../machine.js';

interface Proc {
  pid: number;
  ppid: number;
  etimes: number;
  rssMb: number;
  args: string;
}

const run = promisify(execFile);
/** The webapp image's registrar (images/webapp/s6/registrar/run): the bundle's script on the image's Node. */
const REGISTRAR = '/opt/leasehold/bin/leasehold-registrar';

async function top(id: string): Promise<Proc[]> {
  const t = await docker.getContainer(id).top({ ps_args: '-eo pid,ppid,etimes,rss,args' });
  const col = (name: string) => t.Titles.findIndex((x: string) => x.trim().toUpperCase() === name);
  const [pid, ppid, etimes, rss, args] = ['PID', 'PPID', 'ELAPSED', 'RSS', 'COMMAND'].map(col);
  return t.Processes.map((p: string[]) => ({ pid: Number(p[pid!]), ppid: Number(p[ppid!]), etimes: Number(p[etimes!]), rssMb: round(Number(p[rss!]) / 1024), args: p[args!]! }));
}

/**
 * A registrar's own memory in its container (smaps_rollup): private pages (what it alone costs),
 * and its proportional share (PSS) of the pages it shares with the app's node and other containers.
 */
async function ownMemory(id: string): Promise<{ privateMb: number; pssMb: number } | undefined> {
  const script = `for d in /proc/[0-9]*; do case "$(tr "\\0" " " < $d/cmdline 2>/dev/null)" in "node "*${REGISTRAR}*) cat $d/smaps_rollup;; esac; done`;
  const r = await run('docker', ['exec', id, 'bash', '-c', script], { timeout: 20000 }).catch(() => undefined);
  const { privateMb, pssMb } = smapsRollupMb(r?.stdout ?? '');
  return Number.isFinite(privateMb) ? { privateMb, pssMb } : undefined;
}

/**
 * The floor under any Node process in the image: `node` with the registrar's flags and no code,
 * resident after 2 s (Debian's Node is libnode.so: its symbol and relocation tables alone are ~10 MB
 * read at start).
 */
async function bareNode(id: string): Promise<number | undefined> {
  const script = 'node --lite-mode --no-expose-wasm -e "setTimeout(() => {}, 2000)" & p=$!; sleep 1.8; awk \'/^VmRSS:/ { print $2 }\' /proc/$p/status; wait $p';
  const r = await run('docker', ['exec', id, 'bash', '-c', script], { timeout: 20000 }).catch(() => undefined);
  const kb = Number(r?.stdout.trim());
  return kb > 0 ? round(kb / 1024) : undefined;
}

export async function memory(stack: ComposeStack) {
  const [ha] = await stack.containers('ha');
  const [etcd] = await stack.containers('etcd');
  const haProcs = await top(ha!.Id);
  const renderer = haProcs.find((p) => p.args.includes('dist/renderer/main.js'));
  // The running HAProxy, not a `haproxy -c` the renderer may be running.
  const hap = haProcs.filter((p) => /^(\S*\/)?haproxy\s/.test(p.args) && !/\s-c(\s|$)/.test(p.args));
  const master = hap.find((p) => !hap.some((q) => q.pid === p.ppid));
  const workers = hap.filter((p) => master && p.ppid === master.pid).sort((a, b) => a.etimes - b.etimes);
  const etcdRss = (await top(etcd!.Id)).filter((p) => /^(\S*\/)?etcd(\s|$)/.test(p.args)).reduce((a, p) => a + p.rssMb, 0);
  const registrars: number[] = [];
  const registrarsOwn: { privateMb: number; pssMb: number }[] = [];
  const apps: number[] = [];
  const webapps = await stack.containers('webapp');
  const bare = webapps[0] ? await bareNode(webapps[0].Id) : undefined;
  for (const c of webapps) {
    const own = await ownMemory(c.Id);
    if (own) registrarsOwn.push(own);
    for (const p of await top(c.Id)) {
      if (p.args.includes(REGISTRAR)) registrars.push(p.rssMb);
      if (p.args.includes('dist/images/webapp/server.js')) apps.push(p.rssMb);
    }
  }
  return {
    registrar: registrars,
    registrarMax: Math.max(...registrars),
    /** private (USS) and PSS of each registrar: the RSS above counts node's pages shared with the app */
    registrarOwn: registrarsOwn,
    /** `node -e` with the registrar's flags in the same image: what any Node process there starts at */
    bareNodeMb: bare,
    renderer: renderer?.rssMb ?? NaN,
    haproxyMaster: master?.rssMb ?? NaN,
    haproxyWorker: workers[0]?.rssMb ?? NaN,
    haproxyOldWorkers: workers.slice(1).map((w) => w.rssMb),
    etcd: round(etcdRss),
    webapp: apps,
  };
}
