import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from './env.js';

const run = promisify(execFile);
const SCRIPT = join(REPO_ROOT, 'infra', 'fhir-validator', 'validator.sh');

/** One finding of HAPI FHIR's validator. */
export interface FhirFinding {
  severity: string;
  location: string;
  message: string;
}
/** What HAPI FHIR's validator said of one resource. */
export interface FhirValidation {
  name: string;
  errors: number;
  warnings: number;
  messages: FhirFinding[];
}

/**
 * Validates FHIR R4 resources with HAPI FHIR's instance validator, offline
 * (infra/fhir-validator: built from Maven Central on first use, then cached).
 * `definitions` are conformance resources of our own (CodeSystems, extension
 * StructureDefinitions) the validator should know. One JVM for all resources.
 */
export async function validateFhir(resources: ReadonlyArray<{ name: string; resource: unknown }>, definitions: readonly unknown[] = []): Promise<FhirValidation[]> {
  const dir = await mkdtemp(join(tmpdir(), 'onestop-fhir-'));
  try {
    const defs = join(dir, 'definitions');
    const input = join(dir, 'resources');
    await run('mkdir', ['-p', defs, input]);
    await Promise.all(definitions.map((d, i) => writeFile(join(defs, `${String(i).padStart(4, '0')}.json`), JSON.stringify(d))));
    const names = resources.map((r, i) => `${String(i).padStart(4, '0')}.json`);
    await Promise.all(resources.map((r, i) => writeFile(join(input, names[i]!), JSON.stringify(r.resource))));
    const { stdout } = await run('bash', [SCRIPT, 'run', '--definitions', defs, input], { maxBuffer: 64 * 1024 * 1024, timeout: 600_000 });
    const byFile = new Map(
      stdout
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { file: string; errors: number; warnings: number; messages: FhirFinding[] })
        .map((r) => [r.file.slice(r.file.lastIndexOf('/') + 1), r]),
    );
    return resources.map((r, i) => {
      const found = byFile.get(names[i]!);
      if (!found) throw new Error(`the validator said nothing of ${r.name}`);
      return { name: r.name, errors: found.errors, warnings: found.warnings, messages: found.messages };
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
