// `npm run openapi [-- <dir>]`: writes the OpenAPI document of every service
// (and the combined one of `npm start`) to <dir> (default .data/openapi), then
// lints them with Redocly (recommended rules, redocly.yaml) and Spectral
// (spectral:oas, .spectral.yaml). Exits non-zero on any error or warning.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { openApiDocuments } from './openapi-documents.js';
import { lintOpenApi } from './openapi-lint.js';

const dir = resolve(process.argv[2] ?? '.data/openapi');
mkdirSync(dir, { recursive: true });
const files: string[] = [];
for (const [name, doc] of Object.entries(await openApiDocuments())) {
  const file = join(dir, `${name}.openapi.json`);
  writeFileSync(file, `${JSON.stringify(doc, null, 2)}\n`);
  files.push(file);
}
console.log(`wrote ${files.length} documents to ${dir}`);
const findings = await lintOpenApi(files);
for (const f of findings) console.log(`${f.linter} ${f.severity} ${f.rule} ${f.file}: ${f.message} (${f.where})`);
console.log(findings.length === 0 ? 'redocly and spectral: 0 errors, 0 warnings' : `${findings.length} findings`);
process.exit(findings.length === 0 ? 0 : 1);
