import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '@onestop/testkit';
import { prettyLogs } from '../src/logger.js';

// Logs are read by people in development (a terminal) and by collectors
// everywhere else (JSON lines). Each format is checked on a real process's
// stdout, redaction included.

const run = promisify(execFile);

/** One info line with personal data, logged by a fresh process through createLogger. */
async function logOnce(pretty: boolean): Promise<string> {
  const script = `import { createLogger } from ${JSON.stringify(join(REPO_ROOT, 'packages/kit/src/logger.ts'))};
createLogger('intake', 'info', { pretty: ${pretty} }).info({ personId: 'p-1', body: { fiscalCode: 'RSSMRA85C14G713X', givenName: 'Giulia' } }, 'person registered');`;
  // the workspace packages the logger imports resolve to their sources, as in npm start
  const { stdout } = await run(process.execPath, ['--conditions=onestop-source', '--import', 'tsx', '--input-type=module', '-e', script], { cwd: REPO_ROOT });
  return stdout;
}

describe('logs', () => {
  it('are readable lines on a terminal in development, JSON when not a terminal or in production, as LOG_FORMAT says otherwise', () => {
    expect(prettyLogs({ LOG_FORMAT: 'auto', NODE_ENV: 'development' }, true)).toBe(true);
    expect(prettyLogs({ LOG_FORMAT: 'auto', NODE_ENV: 'development' }, false)).toBe(false);
    expect(prettyLogs({ LOG_FORMAT: 'auto', NODE_ENV: 'production' }, true)).toBe(false);
    expect(prettyLogs({ LOG_FORMAT: 'auto', NODE_ENV: 'test' }, true)).toBe(false);
    expect(prettyLogs({ LOG_FORMAT: 'json', NODE_ENV: 'development' }, true)).toBe(false);
    expect(prettyLogs({ LOG_FORMAT: 'pretty', NODE_ENV: 'production' }, false)).toBe(true);
  });

  it('pretty: one human line with level, time and message, personal data redacted', async () => {
    const out = await logOnce(true);
    expect(out).toMatch(/\d\d:\d\d:\d\d\.\d{3}.*INFO.*person registered/);
    expect(out).toContain('p-1');
    expect(out).not.toContain('RSSMRA85C14G713X');
    expect(out).not.toContain('Giulia');
    expect(() => JSON.parse(out)).toThrow();
  });

  it('JSON: one parseable line per entry, personal data redacted', async () => {
    const out = await logOnce(false);
    const line = JSON.parse(out.trim()) as Record<string, unknown>;
    // a field outside the allow-list is dropped, only its name kept
    expect(line).toMatchObject({ level: 30, service: 'intake', personId: 'p-1', msg: 'person registered', unlisted: ['body'] });
    expect(out).not.toContain('RSSMRA85C14G713X');
    expect(out).not.toContain('Giulia');
  });
});
