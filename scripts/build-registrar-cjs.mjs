// Compiles the registrar a second time, as CommonJS, into dist/cjs/: Node's ESM loader alone
// costs about 1 MB resident, and the registrar runs in every webapp container (figures in
// docs/benchmarks.md). Same sources, same compiler options as tsconfig.json but the module format.
import { writeFileSync } from 'node:fs';
import ts from 'typescript';

const config = ts.getParsedCommandLineOfConfigFile('tsconfig.json', {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: (d) => fail([d]) });
const options = {
  ...config.options,
  module: ts.ModuleKind.CommonJS,
  moduleResolution: ts.ModuleResolutionKind.Node10,
  outDir: 'dist/cjs',
  sourceMap: false,
};
const program = ts.createProgram(['registrar/main.ts', 'registrar/run-main.ts', 'registrar/agent-main.ts'], options);
const result = program.emit();
const diagnostics = [...ts.getPreEmitDiagnostics(program), ...result.diagnostics];
if (diagnostics.length) fail(diagnostics);
// package.json says "type": "module"; this folder's files are CommonJS.
writeFileSync('dist/cjs/package.json', '{ "type": "commonjs" }\n');

function fail(diagnostics) {
  const host = { getCanonicalFileName: (f) => f, getCurrentDirectory: ts.sys.getCurrentDirectory, getNewLine: () => '\n' };
  console.error(ts.formatDiagnosticsWithColorAndContext(diagnostics, host));
  process.exit(1);
}
