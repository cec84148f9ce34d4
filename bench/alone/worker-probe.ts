// What the running worker has for one server, read on its admin socket: the figure "live in the
// worker" is taken here rather than from the renderer's own log, which is written only after the
// renderer re-read the whole server list (tens of ms at 10,000 nodes, after the change was live).
import { RuntimeChannel } from '../../renderer/runtime.js';
import { clock } from '../machine.js';
import { sleep } from '../../harness/wait.js';

export class WorkerProbe {
  private readonly ch: RuntimeChannel;

  constructor(socket: string, timeoutMs = 5000) {
    this.ch = new RuntimeChannel({ socket, batchSize: 10, timeoutMs });
  }

  /** `show stat` of one server: column → value. Server ids follow the slots: s1 is id 1. */
  async server(backend: string, slot: string): Promise<Record<string, string>> {
    const [text] = await this.ch.run([`show stat ${backend} 4 ${slot.slice(1)}`]);
    const lines = text!.split('\n').filter(Boolean);
    const header = lines[0]!.replace(/^# /, '').split(',');
    const row = lines[1]?.split(',') ?? [];
    const out = Object.fromEntries(header.map((h, i) => [h, row[i] ?? '']));
    if (out.svname !== slot) throw new Error(`server id ${slot.slice(1)} of ${backend} is ${out.svname}, not ${slot}`);
    return out;
  }

  async weight(backend: string, slot: string): Promise<number> {
    const [text] = await this.ch.run([`get weight ${backend}/${slot}`]);
    return Number(text!.split(' ')[0]);
  }

  async serversState(backend: string): Promise<string> {
    const [text] = await this.ch.run([`show servers state ${backend}`]);
    return text!;
  }

  /** Polls `probe` (`everyMs` apart) until it holds; the clock() when it first held. */
  static async until(probe: () => Promise<boolean>, what: string, timeoutMs: number, everyMs = 1): Promise<number> {
    const deadline = clock() + timeoutMs;
    for (;;) {
      if (await probe().catch(() => false)) return clock();
      if (clock() > deadline) throw new Error(`not seen within ${timeoutMs} ms: ${what}`);
      await sleep(everyMs);
    }
  }
}
