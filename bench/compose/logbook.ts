// The log lines of a service's containers, followed for the whole run: the renderer's JSON lines
// (in the ha container) say when it placed or removed a node; HAProxy's own say why it marked a
// server down.
import type { ComposeStack } from '../../harness/compose.js';
import { type Logged, firstAfter } from './container-log.js';

export class LogBook {
  readonly lines: Logged[] = [];
  /** Lines that are not JSON (HAProxy's), with the time they arrived. */
  readonly text: { at: number; line: string }[] = [];
  private stops: (() => void)[] = [];

  async follow(stack: ComposeStack, service: string): Promise<void> {
    this.stops.push(
      await stack.followLogs(service, (line) => {
        const i = line.indexOf('{');
        if (i < 0) {
          this.text.push({ at: Date.now(), line: line.trim() });
          return;
        }
        try {
          const e = JSON.parse(line.slice(i));
          if (typeof e.time === 'string') this.lines.push({ at: Date.parse(e.time), e });
        } catch {
          // not a JSON line
        }
      }),
    );
  }

  /** ms from t0 to the first line at or after it that `is` picks. */
  firstAfter(t0: number, is: (e: Record<string, any>) => boolean): number | undefined {
    return firstAfter(this.lines, t0, is);
  }

  stop(): void {
    for (const s of this.stops) s();
  }
}
