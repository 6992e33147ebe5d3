// Writes packages/events/schemas/*.json from the zod catalog. Run after changing an event:
//   npm run -w @onestop/events generate
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { exportAsyncApi, exportJsonSchemas } from '../src/index.js';

const dir = join(dirname(fileURLToPath(import.meta.url)), '..', 'schemas');
mkdirSync(dir, { recursive: true });
for (const f of readdirSync(dir)) rmSync(join(dir, f));
const files = { ...exportJsonSchemas(), 'asyncapi.json': exportAsyncApi() };
for (const [name, doc] of Object.entries(files)) {
  writeFileSync(join(dir, name), `${JSON.stringify(doc, null, 2)}\n`);
}
console.log(`wrote ${Object.keys(files).length} files to ${dir}`);
