// Text for people: tables, durations, event lines. Pure: strings in, strings out. Every value
// shown is made printable first (printable.ts): only the CLI's own text reaches a terminal raw.
import { printableFields, printableJson } from './printable.js';
import type { NodeRow, StatusReport, WatchEvent } from './report.js';

export type Style = 'ok' | 'warn' | 'bad' | 'dim' | 'bold';

/** How output looks: aligned columns on a terminal, tab-separated on a pipe; colour only when asked. */
export interface Look {
  /** stdout is a terminal: align columns. */
  tty: boolean;
  /** Colour (a terminal, and NO_COLOR unset). */
  color: boolean;
}

export interface Cell {
  text: string;
  style?: Style;
}

const SGR: Record<Style, [string, string]> = {
  ok: ['\x1b[32m', '\x1b[39m'],
  warn: ['\x1b[33m', '\x1b[39m'],
  bad: ['\x1b[31m', '\x1b[39m'],
  dim: ['\x1b[2m', '\x1b[22m'],
  bold: ['\x1b[1m', '\x1b[22m'],
};

/** Every escape sequence the CLI itself writes: what the output boundary lets through. */
export const OWN_SEQUENCES: readonly string[] = [...new Set(Object.values(SGR).flat())];

export function paint(text: string, style: Style | undefined, color: boolean): string {
  return color && style && text ? `${SGR[style][0]}${text}${SGR[style][1]}` : text;
}

/** Characters a terminal shows (colour codes take no room). */
export function visibleLength(text: string): number {
  // eslint-disable-next-line no-control-regex
  return [...text.replace(/\x1b\[[0-9;]*m/g, '')].length;
}

/**
 * A table: on a terminal, columns padded to their widest cell (two spaces apart, the last one
 * unpadded) under a bold header; on a pipe, cells joined by tabs, so `cut -f` and `awk -F'\t'`
 * work whatever a cell holds. Cells never hold tabs or newlines.
 */
export function table(header: string[], rows: Cell[][], look: Look): string {
  const clean = (s: string) => s.replace(/[\t\n\r]/g, ' ');
  const all: Cell[][] = [header.map((text) => ({ text, style: 'bold' as const })), ...rows].map((r) => r.map((c) => ({ ...c, text: clean(c.text) })));
  if (!look.tty) return all.map((r) => r.map((c) => c.text).join('\t')).join('\n');
  const widths = header.map((_, i) => Math.max(...all.map((r) => visibleLength(r[i]?.text ?? ''))));
  return all
    .map((r) =>
      r
        .map((c, i) => {
          const pad = i === r.length - 1 ? '' : ' '.repeat(widths[i]! - visibleLength(c.text));
          return paint(c.text, c.style, look.color) + pad;
        })
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** `42s`, `3m12s`, `2h05m`, `4d03h`. */
export function formatAge(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const two = (n: number) => String(n).padStart(2, '0');
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${two(s % 60)}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${two(Math.floor((s % 3600) / 60))}m`;
  return `${Math.floor(s / 86400)}d${two(Math.floor((s % 86400) / 3600))}h`;
}

/** HAProxy's status column: UP is fine, DRAIN and MAINT are deliberate, DOWN and NOLB are trouble. */
function haproxyStyle(status: string | undefined): Style | undefined {
  if (!status) return 'dim';
  if (/^UP\b/.test(status) && !/\//.test(status)) return 'ok';
  if (/^(DRAIN|MAINT)\b/.test(status)) return 'warn';
  return 'bad';
}

function etcdCell(r: NodeRow, etcdKnown: boolean): Cell {
  if (!etcdKnown) return { text: r.operator.drained ? 'drained?' : '?', style: 'dim' };
  if (r.operator.drained) return { text: r.etcd.registered ? 'drained' : 'drained, gone', style: 'warn' };
  if (!r.etcd.registered) return { text: 'gone', style: 'dim' };
  if (r.etcd.invalid) return { text: 'invalid', style: 'bad' };
  return { text: r.etcd.state ?? '-', style: r.etcd.state === 'up' ? 'ok' : 'warn' };
}

function ttlCell(r: NodeRow, etcdKnown: boolean): Cell {
  if (!etcdKnown) return { text: '?', style: 'dim' };
  if (!r.etcd.registered) return { text: '-', style: 'dim' };
  if (r.etcd.ttl === null) return { text: 'none', style: 'bad' };
  if (r.etcd.ttl === undefined) return { text: '?', style: 'dim' };
  if (r.etcd.ttl < 0) return { text: 'expired', style: 'bad' };
  return { text: `${r.etcd.ttl}s` };
}

function weightCell(r: NodeRow): Cell {
  if (r.weight.effective === undefined) return { text: '-', style: 'dim' };
  if (r.weight.override === undefined) return { text: String(r.weight.effective) };
  return { text: `${r.weight.effective} (override)`, style: 'warn' };
}

/** `leasehold status` as text: the table, each backend's totals, then notes. */
export function formatStatus(shown: StatusReport, look: Look): string {
  const report = printableFields(shown);
  const lbs = report.renderers.filter((r) => r.reachable);
  const several = lbs.length > 1;
  const header = ['SERVICE', 'NODE', 'ADDRESS'];
  if (lbs.length) header.push('SLOT');
  header.push('ETCD');
  if (lbs.length) header.push(...(several ? lbs.map((l) => l.lb) : ['HAPROXY']), 'SESS');
  header.push('WEIGHT', 'TTL', 'AGE');
  const withNotes = report.nodes.some((r) => r.notes.length);
  if (withNotes) header.push('NOTE');

  const rows = report.nodes.map((r): Cell[] => {
    const cells: Cell[] = [{ text: r.service }, { text: r.id }, r.address === undefined ? { text: '-', style: 'dim' } : { text: `${r.address.includes(':') ? `[${r.address}]` : r.address}:${r.port}` }];
    if (lbs.length) {
      const slots = [...new Set(r.lbs.map((v) => v.slot ?? '-'))];
      cells.push(slots.length === 1 && slots[0] === '-' ? { text: '-', style: 'dim' } : { text: slots.length === 1 ? slots[0]! : r.lbs.map((v) => v.slot ?? '-').join('|') });
    }
    cells.push(etcdCell(r, report.etcd.reachable));
    if (lbs.length) {
      for (const v of r.lbs) {
        const status = v.haproxy?.status ?? (v.slot ? `(${v.state})` : undefined);
        cells.push({ text: status ?? '-', style: haproxyStyle(v.haproxy?.status) });
      }
      cells.push({ text: String(r.sessions), style: r.sessions ? undefined : 'dim' });
    }
    cells.push(weightCell(r), ttlCell(r, report.etcd.reachable), r.etcd.ageSeconds === undefined ? { text: '-', style: 'dim' } : { text: formatAge(r.etcd.ageSeconds) });
    if (withNotes) cells.push({ text: r.notes.join('; '), style: r.disagree || r.etcd.invalid ? 'bad' : 'warn' });
    return cells;
  });

  const out: string[] = [];
  out.push(report.nodes.length ? table(header, rows, look) : paint(`no nodes${report.service ? ` in service ${report.service}` : ''}`, 'dim', look.color));
  if (report.backends.length) out.push('');
  for (const b of report.backends) {
    const states = [`${b.up} up`, ...(b.drained ? [`${b.drained} drained`] : []), ...(b.draining ? [`${b.draining} draining`] : [])];
    const slots = b.slots.length === 0 ? '' : several ? `, slots ${b.slots.map((s) => `${s.lb} ${s.used}/${s.total}`).join(', ')}` : `, slots ${b.slots[0]!.used}/${b.slots[0]!.total} used`;
    const sessions = lbs.length ? `, ${b.sessions} session${b.sessions === 1 ? '' : 's'}` : '';
    const placed = report.nodes.filter((r) => r.service === b.service && r.lbs.some((v) => v.slot)).length;
    const count = report.etcd.reachable ? `${b.nodes} node${b.nodes === 1 ? '' : 's'} (${states.join(', ')})` : `${placed} node${placed === 1 ? '' : 's'} in slots`;
    out.push(`${paint(b.service, 'bold', look.color)}: ${count}${sessions}${slots}`);
  }
  if (several) for (const l of lbs) out.push(`${l.lb}: ${l.url}${l.haproxyVersion ? ` (HAProxy ${l.haproxyVersion})` : ''}`);
  const a = report.lbsAgree;
  if (a) {
    out.push(
      a.agree
        ? paint(`${a.lbs.join(', ')} agree: every node on each, in the same state`, 'dim', look.color)
        : paint(`${a.lbs.join(', ')} differ on ${a.differ.length} node${a.differ.length === 1 ? '' : 's'}: ${a.differ.slice(0, 5).join(', ')}${a.differ.length > 5 ? ', ...' : ''}`, 'bad', look.color),
    );
  }
  for (const n of report.notes) out.push(paint(`note: ${n}`, 'warn', look.color));
  return out.join('\n');
}

/** `--json`: the report as one document, its values as read (only their spelling escaped). */
export function formatStatusJson(report: StatusReport): string {
  return printableJson(report, 2);
}

const CHANGE_STYLE: Record<string, Style> = { joined: 'ok', left: 'warn', changed: 'dim', drained: 'warn', undrained: 'ok', weight: 'warn', 'weight-reset': 'ok' };

/**
 * One `leasehold watch` line: time (UTC, from the event), what happened, to whom, details; and
 * `[LB2]` when several load balancers speak.
 */
export function formatEvent(event: WatchEvent, o: { label?: string; color: boolean; now: number }): string {
  const e = printableFields(event);
  const at = typeof e.time === 'string' ? Date.parse(e.time) : NaN;
  const time = new Date(Number.isNaN(at) ? o.now : at).toISOString().slice(11, 23);
  const node = e.service && e.id ? `${e.service}/${e.id}` : '';
  const where = e.address !== undefined ? `${String(e.address).includes(':') ? `[${e.address}]` : e.address}:${e.port}` : '';
  let what: string;
  let style: Style | undefined;
  let rest: string[];
  switch (e.event) {
    case 'node':
      what = e.change ?? 'node';
      style = CHANGE_STYLE[what];
      rest = [node, where, e.slot ? `slot ${e.slot}` : '', e.change !== 'left' && e.weight !== undefined ? `weight ${e.weight}` : '', e.change !== 'left' && e.state && e.state !== 'up' ? String(e.state) : ''];
      break;
    case 'operator':
      what = e.change === 'weight-reset' ? 'weight' : (e.change ?? 'operator');
      style = CHANGE_STYLE[e.change ?? ''];
      rest = [node, e.change === 'weight' ? String(e.weight) : e.change === 'weight-reset' ? "reset (the registrar's weight applies)" : ''];
      break;
    case 'drift':
      what = 'drift';
      style = 'warn';
      rest = [`${e.backend}/${e.server}${e.node ? ` (${e.node})` : ''}`, `repaired: ${(e.fields ?? []).join(', ')}`];
      break;
    case 'reload': {
      what = 'reload';
      style = 'warn';
      const { time: _t, event: _e, cause, ...more } = e;
      rest = [`cause ${cause ?? '?'}`, ...['workerPid', 'slots', 'durationMs'].filter((k) => more[k] !== undefined).map((k) => (k === 'workerPid' ? `worker ${more[k]}` : k === 'durationMs' ? `${more[k]} ms` : `${more[k]} ${k}`))];
      break;
    }
    case 'invalid':
      what = 'invalid';
      style = 'bad';
      rest = [String(e.key ?? ''), String(e.reason ?? '')];
      break;
    default: {
      what = e.event;
      const { time: _t, event: _e, ...more } = e;
      rest = [JSON.stringify(more)];
    }
  }
  const line = [time, paint(what.padEnd(9), style, o.color), ...rest.filter(Boolean)].join('  ');
  return o.label ? `${line}  ${paint(`[${o.label}]`, 'dim', o.color)}` : line;
}

/** `watch --json`: one event per line, with the renderer it came from (or `source: etcd`). */
export function formatEventJson(e: WatchEvent, source: { renderer?: string }): string {
  return printableJson({ ...e, ...(source.renderer ? { renderer: source.renderer } : { source: 'etcd' }) });
}
