// The README and docs/ link to each other by file and heading; a heading renamed or a page moved
// breaks them silently on GitHub. This fails first. It also keeps the docs self-contained: the
// design the code follows is in docs/, and nothing cites a path outside the repository.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';

/** The repository, from dist/test/unit/. */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const PAGES = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

const withoutCode = (md: string) => md.replace(/```[\s\S]*?```/g, '');

/** A heading's anchor as GitHub makes it: lower case, punctuation dropped, spaces to dashes. */
function slug(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N}_\- ]/gu, '').replace(/ /g, '-');
}

function anchors(page: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const m of withoutCode(readFileSync(join(ROOT, page), 'utf8')).matchAll(/^#+ (.*)$/gm)) {
    const s = slug(m[1]!);
    const n = seen.get(s) ?? 0;
    seen.set(s, n + 1);
    out.add(n ? `${s}-${n}` : s);
  }
  return out;
}

test('GitHub anchors as the links expect them', (t) => {
  t.is(slug('Many hosts: Docker Swarm'), 'many-hosts-docker-swarm');
  t.is(slug('Drain a node, weigh it, watch: `leasehold`'), 'drain-a-node-weigh-it-watch-leasehold');
  t.is(slug('Any image: the drop-in bundle (2026-12-05)'), 'any-image-the-drop-in-bundle-2026-12-05');
});

test('every link between the README and docs/ reaches a file and a heading that exist', (t) => {
  const broken: string[] = [];
  for (const page of PAGES) {
    for (const m of withoutCode(readFileSync(join(ROOT, page), 'utf8')).matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = m[1]!;
      if (/^[a-z]+:/i.test(target)) continue;
      const [path, anchor] = target.split('#') as [string, string | undefined];
      const file = path ? normalize(join(dirname(page), path)) : page;
      if (!existsSync(join(ROOT, file))) broken.push(`${page}: ${target} (no such file)`);
      else if (anchor && file.endsWith('.md') && !anchors(file).has(anchor)) broken.push(`${page}: ${target} (no such heading)`);
    }
  }
  t.deepEqual(broken, []);
});

test('no page cites a path outside the repository', (t) => {
  const outside: string[] = [];
  for (const page of PAGES) {
    const text = readFileSync(join(ROOT, page), 'utf8');
    for (const bad of ['DESIGN.md', '../shared', '](../../']) if (text.includes(bad)) outside.push(`${page}: ${bad}`);
  }
  t.deepEqual(outside, []);
});
