import test from 'ava';
import { histogram, histogramLines, observe } from '../../renderer/histogram.js';

test('observations land in the first bucket at or above them; lines are cumulative, with +Inf, sum and count', (t) => {
  const h = histogram([0.01, 0.1, 1]);
  for (const s of [0.004, 0.01, 0.05, 2]) observe(h, s);
  t.deepEqual(h.counts, [2, 1, 0]);
  t.deepEqual(histogramLines('x_seconds', { pass: 'full' }, h), [
    'x_seconds_bucket{pass="full",le="0.01"} 2',
    'x_seconds_bucket{pass="full",le="0.1"} 3',
    'x_seconds_bucket{pass="full",le="1"} 3',
    'x_seconds_bucket{pass="full",le="+Inf"} 4',
    'x_seconds_sum{pass="full"} 2.064',
    'x_seconds_count{pass="full"} 4',
  ]);
});
