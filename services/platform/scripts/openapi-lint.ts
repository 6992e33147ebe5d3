import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** One error or warning of a linter about an OpenAPI document. */
export interface LintFinding {
  linter: 'redocly' | 'spectral';
  severity: string;
  rule: string;
  file: string;
  message: string;
  where: string;
}

/** Output of a linter that exits non-zero when it finds something: the output is still the report. */
async function output(bin: string, args: string[]): Promise<string> {
  try {
    return (await run(join(REPO_ROOT, 'node_modules/.bin', bin), args, { cwd: REPO_ROOT, maxBuffer: 64 * 1024 * 1024 })).stdout;
  } catch (e) {
    const out = (e as { stdout?: string }).stdout;
    if (out) return out;
    throw e;
  }
}

/**
 * Lints OpenAPI documents with Redocly (recommended rules, redocly.yaml) and
 * Spectral (spectral:oas, .spectral.yaml): every error and warning (Spectral's
 * info and hint levels are not findings).
 */
export async function lintOpenApi(files: readonly string[]): Promise<LintFinding[]> {
  const findings: LintFinding[] = [];
  for (const file of files) {
    const report = JSON.parse(await output('redocly', ['lint', '--config', join(REPO_ROOT, 'redocly.yaml'), '--format=json', '--max-problems=10000', file])) as {
      problems: Array<{ ruleId: string; severity: string; message: string; location?: Array<{ pointer?: string }> }>;
    };
    for (const p of report.problems) {
      findings.push({ linter: 'redocly', severity: p.severity, rule: p.ruleId, file, message: p.message, where: p.location?.[0]?.pointer ?? '' });
    }
  }
  const spectral = JSON.parse(
    (await output('spectral', ['lint', '--ruleset', join(REPO_ROOT, '.spectral.yaml'), '--format', 'json', '--fail-severity', 'warn', '--quiet', ...files])) || '[]',
  ) as Array<{ code: string; severity: number; message: string; path: string[]; source?: string }>;
  for (const p of spectral) {
    if (p.severity > 1) continue;
    findings.push({ linter: 'spectral', severity: p.severity === 0 ? 'error' : 'warn', rule: p.code, file: p.source ?? '', message: p.message, where: p.path.join('.') });
  }
  return findings;
}
