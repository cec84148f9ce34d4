// tsc copies no non-TS files: put the default template and the live page beside the compiled renderer.
import { cpSync, mkdirSync } from 'node:fs';
mkdirSync('dist/renderer/templates', { recursive: true });
cpSync('renderer/templates', 'dist/renderer/templates', { recursive: true });
// The live page's plain HTML, JS and CSS: served as they are, no bundler.
mkdirSync('dist/renderer/page', { recursive: true });
cpSync('renderer/page', 'dist/renderer/page', { recursive: true });
