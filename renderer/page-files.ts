import { readFileSync, readdirSync } from 'node:fs';
import { extname } from 'node:path';
import type { PageFile } from '../common/health-server.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

/** The live page's files (renderer/page/, copied beside the compiled renderer), read once at start. */
export function pageFiles(dir = new URL('./page/', import.meta.url)): Map<string, PageFile> {
  const files = new Map<string, PageFile>();
  for (const name of readdirSync(dir)) {
    const type = TYPES[extname(name)];
    if (type) files.set(name, { type, body: readFileSync(new URL(name, dir)) });
  }
  return files;
}

