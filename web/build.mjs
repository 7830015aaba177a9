// Builds the dashboard into OUT (default web/dist): one minified JS bundle and
// one CSS file, both with a content hash in their names (so they can be
// cached forever), and an index.html that references them. Nothing is loaded
// from the internet at run time: uPlot is bundled from node_modules.
//
// Usage: node build.mjs [--out DIR]
// Run by CMake at build time (src/http/api/CMakeLists.txt), which then embeds
// every file of OUT into the desirelines binary.
import * as esbuild from 'esbuild';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const outArg = process.argv.indexOf('--out');
const out = path.resolve(outArg > 0 ? process.argv[outArg + 1] : path.join(here, 'dist'));

await rm(out, { recursive: true, force: true });
await mkdir(path.join(out, 'assets'), { recursive: true });

const result = await esbuild.build({
  entryPoints: [path.join(here, 'src', 'main.js')],
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['es2020'],
  outdir: path.join(out, 'assets'),
  entryNames: '[name]-[hash]',
  metafile: true,
  legalComments: 'none',
  logLevel: 'warning',
});

// The bundle's JS and CSS names, as esbuild hashed them.
let js = '';
let css = '';
for (const [file, meta] of Object.entries(result.metafile.outputs)) {
  if (!meta.entryPoint) continue;
  js = path.basename(file);
  if (meta.cssBundle) css = path.basename(meta.cssBundle);
}
if (!js || !css) throw new Error('esbuild produced no JS or CSS bundle');

const template = await readFile(path.join(here, 'src', 'index.html'), 'utf8');
const html = template.replaceAll('%APP_JS%', `/assets/${js}`).replaceAll('%APP_CSS%', `/assets/${css}`);
await writeFile(path.join(out, 'index.html'), html);
console.log(`dashboard built into ${out}: ${js}, ${css}`);
