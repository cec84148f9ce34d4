// Resident memory of the product's processes inside the running containers (`docker top`):
// registrars, renderer, HAProxy's master and current worker, etcd.
import { type ComposeStack, docker } from '../../test/helpers/compose.js';
import { round } from '../machine.js';

interface Proc {
  pid: number;
  ppid: number;
  etimes: number;
  rssMb: number;
  args: string;
}

async function top(id: string): Promise<Proc[]> {
  const t = await docker.getContainer(id).top({ ps_args: '-eo pid,ppid,etimes,rss,args' });
  const col = (name: string) => t.Titles.findIndex((x: string) => x.trim().toUpperCase() === name);
  const [pid, ppid, etimes, rss, args] = ['PID', 'PPID', 'ELAPSED', 'RSS', 'COMMAND'].map(col);
  return t.Processes.map((p: string[]) => ({ pid: Number(p[pid!]), ppid: Number(p[ppid!]), etimes: Number(p[etimes!]), rssMb: round(Number(p[rss!]) / 1024), args: p[args!]! }));
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
  const apps: number[] = [];
  for (const c of await stack.containers('webapp')) {
    for (const p of await top(c.Id)) {
      if (/dist\/(cjs\/)?registrar\/main\.js/.test(p.args)) registrars.push(p.rssMb);
      if (p.args.includes('dist/images/webapp/server.js')) apps.push(p.rssMb);
    }
  }
  return {
    registrar: registrars,
    registrarMax: Math.max(...registrars),
    renderer: renderer?.rssMb ?? NaN,
    haproxyMaster: master?.rssMb ?? NaN,
    haproxyWorker: workers[0]?.rssMb ?? NaN,
    haproxyOldWorkers: workers.slice(1).map((w) => w.rssMb),
    etcd: round(etcdRss),
    webapp: apps,
  };
}
