// What the CLI prints about a node is shown, never obeyed: a record is written by whoever runs
// the webapp container, and a renderer relays what it was sent. One definition of what a
// terminal would act on, and one way to show it instead.

/**
 * Characters a terminal acts on instead of showing: the C0 controls, DEL and the C1 controls
 * (`\p{Cc}`: ESC starts every escape sequence, U+009B is a CSI in one character), and the
 * bidirectional controls (`\p{Bidi_Control}`: U+061C, U+200E–U+200F, U+202A–U+202E,
 * U+2066–U+2069), which reorder what follows them on screen.
 */
const UNSAFE = /[\p{Cc}\p{Bidi_Control}]/gu;

const NAMED: Record<string, string> = { '\t': '\\t', '\n': '\\n', '\r': '\\r' };

/** `\x1b`, `\x9b`, `\u202e` (`\t`, `\n`, `\r` by name): the character's code, for a person to read. */
function escape(c: string): string {
  if (NAMED[c]) return NAMED[c];
  const code = c.codePointAt(0)!;
  return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/** One value, shown: every unsafe character escaped, tab and line breaks too (a value is one cell, one line). */
export function printable(text: string): string {
  return text.replace(UNSAFE, escape);
}

/**
 * A copy of `value` with every string in it, keys included, {@link printable}. What the
 * formatters are given: each field is made safe before it is laid out and coloured, since
 * afterwards the CLI's own line breaks, tabs and colours could not be told from a value's.
 */
export function printableFields<T>(value: T): T {
  if (typeof value === 'string') return printable(value) as T;
  if (Array.isArray(value)) return value.map(printableFields) as T;
  if (value && typeof value === 'object' && [Object.prototype, null].includes(Object.getPrototypeOf(value))) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [printable(k), printableFields(v)])) as T;
  }
  return value;
}

/**
 * Text on its way to stdout or stderr, whole: the output boundary. Line breaks and tabs (the
 * CLI's own lines and columns) stay, and so do the exact sequences in `keep` (the colours the
 * CLI paints); every other unsafe character is escaped. Values in the text were made printable
 * before it was laid out ({@link printableFields}); this catches the rest, such as an error
 * message that quotes what etcd or a renderer said.
 */
export function printableText(text: string, keep: readonly string[] = []): string {
  const own = new Set(['\n', '\t', ...keep]);
  const re = keep.length ? new RegExp(`${keep.map((k) => k.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')}|${UNSAFE.source}`, 'gu') : UNSAFE;
  return text.replace(re, (m) => (own.has(m) ? m : escape(m)));
}

/**
 * JSON whose text shows no unsafe character raw. JSON.stringify escapes the C0 controls only;
 * DEL, the C1 controls and the bidi controls are escaped here the same way (`\u009b`), which
 * JSON allows anywhere in a string: the document parses back to the same values.
 */
export function printableJson(value: unknown, indent?: number): string {
  // Outside its strings, JSON.stringify writes no such character but the indent's line breaks,
  // and inside them it has escaped the C0 controls: what is left to escape is all in strings.
  return JSON.stringify(value, null, indent).replace(/[\x7f-\x9f\p{Bidi_Control}]/gu, (c) => `\\u${c.codePointAt(0)!.toString(16).padStart(4, '0')}`);
}
