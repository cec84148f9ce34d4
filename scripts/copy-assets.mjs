// tsc copies no non-TS files: put the default template beside the compiled renderer.
import { cpSync, mkdirSync } from 'node:fs';
mkdirSync('dist/renderer/templates', { recursive: true });
cpSync('renderer/templates', 'dist/renderer/templates', { recursive: true });
