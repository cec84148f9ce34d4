// Hand-written SVG charts for bench/plots.ts: no dependency, plain elements only, so GitHub
// renders them as images. Red (FAIL) is kept for failures; nothing else should use it.

export const FAIL = '#d62728';
export const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#9467bd', '#8c564b', '#7f7f7f'] as const;

export interface Point {
  x: number;
  y: number;
}

export interface Series {
  name: string;
  color: string;
  /** step: each point holds its value until the next point's x */
  kind: 'line' | 'step' | 'points';
  points: Point[];
  dashed?: boolean;
  /** a line's points drawn too, as dots */
  dots?: boolean;
  /** points drawn as rings: a reference (a target) over the data, not hiding it */
  hollow?: boolean;
  radius?: number;
}

export interface Axis {
  label: string;
  log?: boolean;
  min?: number;
  max?: number;
}

/** A vertical line at x (an event), with an optional shaded span to `until`. */
export interface Marker {
  x: number;
  until?: number;
  label?: string;
}

export interface Chart {
  title: string;
  /** a smaller line under the title: the run it comes from */
  subtitle?: string;
  x: Axis;
  y: Axis;
  series: Series[];
  markers?: Marker[];
  /** height of the plotting area, px */
  height?: number;
}

const WIDTH = 760;
const LEFT = 70;
const RIGHT = 20;
const BOTTOM = 46;
const CHAR = 6.6; // rough width of a 12 px sans-serif character, for the legend's layout

export const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const num = (v: number): string => String(Math.round(v * 10) / 10);

/** Thousands separated, at most 3 significant decimals. */
export function label(v: number): string {
  return Number(v.toPrecision(3)).toLocaleString('en-US');
}

interface Scale {
  lo: number;
  hi: number;
  ticks: number[];
  at: (v: number, px0: number, px1: number) => number;
}

function scale(axis: Axis, values: number[]): Scale {
  const finite = values.filter((v) => Number.isFinite(v) && (!axis.log || v > 0));
  const dmin = Math.min(...finite);
  const dmax = Math.max(...finite);
  if (axis.log) {
    // Padded so that points at the ends of the range stay off the axes.
    const lo = axis.min ?? dmin / 1.6;
    const hi = axis.max ?? dmax * 1.6;
    // Powers of ten; with 1, 2 and 5 times them when fewer than three powers fall in the range.
    const inRange = (t: number) => t >= lo * (1 - 1e-9) && t <= hi * (1 + 1e-9);
    const decades: number[] = [];
    for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) decades.push(10 ** e);
    const powers = decades.filter(inRange);
    const ticks = powers.length >= 3 ? powers : decades.flatMap((p) => [p, 2 * p, 5 * p]).filter(inRange);
    const t = (v: number) => (Math.log10(v) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo));
    return { lo, hi, ticks, at: (v, a, b) => a + t(v) * (b - a) };
  }
  const lo = axis.min ?? Math.min(0, dmin);
  const rawHi = axis.max ?? (dmax > lo ? dmax : lo + 1);
  const step = niceStep((rawHi - lo) / 6);
  const hi = axis.max ?? Math.ceil(rawHi / step) * step;
  const ticks: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  return { lo, hi, ticks, at: (v, a, b) => a + ((v - lo) / (hi - lo)) * (b - a) };
}

function niceStep(raw: number): number {
  const p = 10 ** Math.floor(Math.log10(raw));
  const f = raw / p;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
}

/** Legend entries laid out left to right, wrapped at the chart's width. */
function legend(series: Series[], top: number): { svg: string; height: number } {
  let x = LEFT;
  let y = top;
  const out: string[] = [];
  for (const s of series) {
    const w = 26 + s.name.length * CHAR + 18;
    if (x + w > WIDTH - RIGHT && x > LEFT) {
      x = LEFT;
      y += 18;
    }
    // A swatch is a line or a square, never a circle: circles are data points only.
    out.push(s.kind === 'points'
      ? `<rect x="${x + 6}" y="${y - 5}" width="10" height="10" ${s.hollow ? `fill="none" stroke="${s.color}" stroke-width="2"` : `fill="${s.color}"`}/>`
      : `<line x1="${x}" y1="${y}" x2="${x + 22}" y2="${y}" stroke="${s.color}" stroke-width="2.5"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`);
    out.push(`<text x="${x + 26}" y="${y + 4}">${esc(s.name)}</text>`);
    x += w;
  }
  return { svg: out.join('\n'), height: y - top + 18 };
}

function panel(c: Chart, top: number): { svg: string; height: number } {
  const out: string[] = [`<text x="${LEFT}" y="${top + 16}" font-size="14" font-weight="bold">${esc(c.title)}</text>`];
  const head = top + (c.subtitle ? 52 : 36);
  if (c.subtitle) out.push(`<text x="${LEFT}" y="${top + 32}" fill="#555">${esc(c.subtitle)}</text>`);
  const leg = legend(c.series, head);
  out.push(leg.svg);
  const y0 = head + leg.height + 8; // top of the plotting area
  const h = c.height ?? 240;
  const y1 = y0 + h;
  const x0 = LEFT;
  const x1 = WIDTH - RIGHT;
  const all = c.series.flatMap((s) => s.points);
  const markers = c.markers ?? [];
  const sx = scale(c.x, [...all.map((p) => p.x), ...markers.flatMap((m) => [m.x, m.until ?? m.x])]);
  const sy = scale(c.y, all.map((p) => p.y));
  const X = (v: number) => sx.at(v, x0, x1);
  const Y = (v: number) => sy.at(v, y1, y0);

  out.push(`<rect x="${x0}" y="${y0}" width="${x1 - x0}" height="${h}" fill="none" stroke="#999"/>`);
  for (const t of sy.ticks) {
    out.push(`<line x1="${x0}" y1="${num(Y(t))}" x2="${x1}" y2="${num(Y(t))}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${x0 - 6}" y="${num(Y(t) + 4)}" text-anchor="end">${label(t)}</text>`);
  }
  for (const t of sx.ticks) {
    out.push(`<line x1="${num(X(t))}" y1="${y1}" x2="${num(X(t))}" y2="${y1 + 5}" stroke="#666"/>`);
    out.push(`<text x="${num(X(t))}" y="${y1 + 18}" text-anchor="middle">${label(t)}</text>`);
  }
  out.push(`<text x="${(x0 + x1) / 2}" y="${y1 + 38}" text-anchor="middle">${esc(c.x.label)}</text>`);
  out.push(`<text transform="translate(${x0 - 52} ${(y0 + y1) / 2}) rotate(-90)" text-anchor="middle">${esc(c.y.label)}</text>`);

  const rows: number[] = []; // right end of the last label in each row
  for (const m of markers) {
    if (m.until !== undefined) out.push(`<rect x="${num(X(m.x))}" y="${y0}" width="${num(Math.max(1, X(m.until) - X(m.x)))}" height="${h}" fill="#000" fill-opacity="0.06"/>`);
    out.push(`<line x1="${num(X(m.x))}" y1="${y0}" x2="${num(X(m.x))}" y2="${y1}" stroke="#444" stroke-dasharray="3 3"/>`);
    if (!m.label) continue;
    // Right of its line, or left of it near the right edge; in the first row where it does not
    // run into the previous label.
    const w = m.label.length * CHAR * 0.92;
    const right = X(m.x) + 4 + w <= x1;
    const lx = right ? X(m.x) + 4 : X(m.x) - 4 - w;
    let row = rows.findIndex((end) => end < lx);
    if (row < 0) row = rows.push(0) - 1;
    rows[row] = lx + w + 6;
    out.push(`<text x="${num(right ? lx : X(m.x) - 4)}" y="${y0 + 14 + row * 14}" font-size="11" fill="#333"${right ? '' : ' text-anchor="end"'}>${esc(m.label)}</text>`);
  }

  for (const s of c.series) {
    const pts = s.points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y) && (!c.x.log || p.x > 0) && (!c.y.log || p.y > 0));
    const paint = s.hollow ? `fill="none" stroke="${s.color}" stroke-width="2"` : `fill="${s.color}"`;
    const dots = () => pts.map((p) => `<circle cx="${num(X(p.x))}" cy="${num(Y(p.y))}" r="${s.radius ?? 3.5}" ${paint}/>`);
    if (s.kind === 'points') {
      out.push(...dots());
      continue;
    }
    if (!pts.length) continue;
    const d = pts.map((p, i) => {
      if (i === 0) return `M${num(X(p.x))} ${num(Y(p.y))}`;
      return s.kind === 'step' ? `H${num(X(p.x))} V${num(Y(p.y))}` : `L${num(X(p.x))} ${num(Y(p.y))}`;
    }).join(' ');
    out.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`);
    if (s.dots) out.push(...dots());
  }
  return { svg: out.join('\n'), height: y1 + BOTTOM - top };
}

/** One or more charts stacked vertically in one SVG document. */
export function svg(charts: Chart[]): string {
  if (!charts.length) throw new Error('svg: no chart');
  let top = 8;
  const parts: string[] = [];
  for (const c of charts) {
    if (!c.series.some((s) => s.points.length)) throw new Error(`svg: chart "${c.title}" has no data`);
    const p = panel(c, top);
    parts.push(p.svg);
    top += p.height + 10;
  }
  return [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${top}" viewBox="0 0 ${WIDTH} ${top}" font-family="Helvetica, Arial, sans-serif" font-size="12" fill="#222">`,
    `<rect width="${WIDTH}" height="${top}" fill="#fff"/>`,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}
