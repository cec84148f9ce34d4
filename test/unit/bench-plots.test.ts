import test from 'ava';
import { changeLatencyByPool, eventKind, memoryByPool, type Plot, requestsOverTime } from '../../bench/plot-data.js';
import { FAIL, svg } from '../../bench/svg.js';

/** Well-formed XML, checked by hand (tags balanced, attributes quoted, entities known): a reason, or undefined. */
function xmlProblem(xml: string): string | undefined {
  const body = xml.replace(/^<\?xml [^?]*\?>\s*/, '');
  const stack: string[] = [];
  let roots = 0;
  const badEntity = /&(?!(amp|lt|gt|quot|apos|#\d+);)/;
  for (const [tok] of body.matchAll(/<[^>]*>|[^<]+/g)) {
    if (!tok.startsWith('<')) {
      if (badEntity.test(tok)) return `bad entity in ${tok}`;
      if (!stack.length && tok.trim()) return `text outside the root: ${tok}`;
      continue;
    }
    const close = /^<\/([\w:-]+)>$/.exec(tok);
    if (close) {
      if (stack.pop() !== close[1]) return `unbalanced ${tok}`;
      continue;
    }
    const open = /^<([\w:-]+)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>$/.exec(tok);
    if (!open) return `bad tag ${tok}`;
    if (badEntity.test(open[2]!)) return `bad entity in ${tok}`;
    if (!stack.length && ++roots > 1) return 'more than one root';
    if (!open[3]) stack.push(open[1]!);
  }
  return stack.length ? `unclosed ${stack.join(' ')}` : roots === 1 ? undefined : 'no root';
}

const drawn = (p: Plot) => {
  if ('missing' in p) throw new Error(`unexpectedly missing: ${p.missing}`);
  return svg(p.charts);
};
const count = (s: string, re: RegExp) => s.match(re)?.length ?? 0;
const redDots = (s: string) => count(s, new RegExp(`<circle [^>]*fill="${FAIL}"`, 'g'));

const churn = {
  date: '2026-12-05T05:39:07.664Z',
  churn: {
    rps: 10,
    seconds: 5,
    keepalive: { requests: 48, failed: 4 },
    fresh: { requests: 10, failed: 1, failures: [{ at: 4500, status: 503, latencyMs: 3 }] },
    events: [
      { at: 1000, what: 'scale 2→6', tookMs: 800 },
      { at: 2000, what: 'kill 2 (SIGKILL)', tookMs: 100 },
      { at: 3000, what: 'stop 2 (docker stop)', tookMs: 900 },
    ],
    timeline: [
      { sec: 0, requests: 10, failed: 0, over100ms: 0, maxMs: 5 },
      { sec: 1, requests: 10, failed: 0, over100ms: 0, maxMs: 40 },
      { sec: 2, requests: 9, failed: 3, over100ms: 1, maxMs: 120 },
      { sec: 3, requests: 10, failed: 1, over100ms: 0, maxMs: 9 },
      { sec: 4, requests: 9, failed: 0, over100ms: 0, maxMs: 6 },
      { sec: 5, requests: 1, failed: 0, over100ms: 0, maxMs: 4 },
    ],
    slow: [{ at: 2300, ms: 120 }],
  },
};

test('requests over time: well-formed SVG, one red dot per second with failures (keep-alive and fresh), events marked', (t) => {
  const s = drawn(requestsOverTime(churn));
  t.is(xmlProblem(s), undefined);
  t.is(redDots(s), 3); // seconds 2 and 3 of the timeline, second 4 of the fresh load's failures
  // Red is for failures only: the dots and the legend's swatch.
  t.is(count(s, new RegExp(FAIL, 'g')), 4);
  t.true(s.includes('failed requests (5 of 58, keep-alive and fresh)'));
  // Each event's line on both panels; labels on the first only, named by what the event is.
  t.is(count(s, /stroke-dasharray="3 3"/g), 6);
  for (const l of ['join: scale 2→6', 'crash: kill 2 (SIGKILL)', 'graceful leave: stop 2 (docker stop)']) t.true(s.includes(`>${l}<`), l);
  t.true(s.includes('>requests per second<'));
  t.true(s.includes('>seconds since the load started (shaded: the command running)<'));
  // The step line holds each of the 5 whole seconds (the partial 6th is left out) until its end.
  const answered = /<path d="([^"]+)"/.exec(s)![1]!;
  t.is(count(answered, /H/g), 5);
  // The one slow request, in the latency panel.
  t.true(s.includes('requests over 100 ms (1)'));
});

test('requests over time: no timeline is a reason naming the run that makes it, not an empty plot', (t) => {
  for (const r of [undefined, {}, { churn: { timeline: [] } }, { churn: { timeline: churn.churn.timeline } }, { churn: { ...churn.churn, seconds: 0 } }]) {
    const p = requestsOverTime(r);
    t.true('missing' in p && p.missing.includes('npm run bench:compose'), JSON.stringify(p));
  }
});

const oneChange = (ms: number[]) => ({ changes: { n: ms.length, median: ms[1], p99: ms[2] }, samples: ms.map((x) => ({ ms: x })) });

test('latency by pool size: a dot per change, median and p99 per pool, the targets; log axes; no red', (t) => {
  const s = drawn(changeLatencyByPool({ date: '2026-11-23T16:26:03.432Z', nodes1000: { oneChange: oneChange([10, 14, 57]) }, nodes10000: { oneChange: oneChange([30, 54, 516]) } }));
  t.is(xmlProblem(s), undefined);
  // 6 changes + 2 medians + 2 p99s + 2 targets.
  t.is(count(s, /<circle /g), 12);
  t.is(redDots(s), 0);
  t.false(s.includes(FAIL));
  for (const l of ['>1,000<', '>10,000<', '>nodes in the pool (log scale)<', '>ms (log scale)<', '>median<', '>p99<']) t.true(s.includes(l), l);
});

test('latency by pool size: one pool is not a plot', (t) => {
  const p = changeLatencyByPool({ nodes1000: { oneChange: oneChange([10, 14, 57]) } });
  t.deepEqual(p, { file: 'change-latency-by-pool.svg', missing: 'renderer.json has one change timed at 1 pool size(s), 2 or more are needed: run `npm run bench:renderer`' });
});

test('memory by pool size: the host and container series with 2 pool sizes or more; else a reason', (t) => {
  const s = drawn(memoryByPool(
    { memory100: { nodes: 100, rss: 71.1, peak: 87.2 }, nodes1000: { memory: { nodes: 1000, rss: 90, peak: 110 } }, nodes10000: { memory: { nodes: 10000, rss: 199.2, peak: 261.1 } } },
    { memory: { asRun: { webapps: 3, renderer: 78 }, hundredNodes: { nodes: 103, renderer: 79.9 } } },
  ));
  t.is(xmlProblem(s), undefined);
  // rss and peak at 3 pool sizes, the container at 2; 2 targets. HAProxy and etcd had no figures: not drawn.
  t.is(count(s, /<circle /g), 10);
  t.false(s.includes('etcd (container)'));
  t.true(s.includes('>MB resident<'));
  const p = memoryByPool({ memory100: { nodes: 100, rss: 71.1, peak: 87.2 } }, undefined);
  t.true('missing' in p && p.missing.includes('npm run bench:renderer'));
});

test('text is escaped; a chart without data is refused, not drawn empty', (t) => {
  const s = svg([{ title: 'a < b & "c"', x: { label: 'x' }, y: { label: 'y' }, series: [{ name: '<s>', color: '#000', kind: 'line', points: [{ x: 0, y: 1 }, { x: 1, y: 2 }] }] }]);
  t.is(xmlProblem(s), undefined);
  t.true(s.includes('a &lt; b &amp; &quot;c&quot;'));
  t.throws(() => svg([{ title: 'empty', x: { label: 'x' }, y: { label: 'y' }, series: [{ name: 's', color: '#000', kind: 'line', points: [] }] }]), { message: /no data/ });
  t.regex(xmlProblem('<svg><g></svg>') ?? '', /unbalanced/);
});

test('the churn\'s events are named by what they do', (t) => {
  t.deepEqual(['scale 2→6', 'kill 2 (SIGKILL)', 'stop 2 (docker stop)', 'scale back to 2'].map(eventKind), ['join', 'crash', 'graceful leave', 'graceful leave']);
});
