import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from '@onestop/testkit';

// The real `onestop` command, run as a child process through its bin shim
// (services/platform/bin/onestop.js, the root package's "bin"), on a fresh
// embedded data directory and on a PostgreSQL test database.

const BIN = join(REPO_ROOT, 'services', 'platform', 'bin', 'onestop.js');
const CLI_TIMEOUT_MS = 120_000;

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `onestop …` with the environment of a fresh installation plus `env`. */
export function onestop(args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: REPO_ROOT,
      // nothing of the test run's own configuration leaks in: only what each case sets
      env: {
        ...process.env,
        NODE_ENV: 'development',
        LOG_LEVEL: '',
        ONESTOP_STORE: '',
        DATABASE_URL: '',
        ONESTOP_BUS: '',
        KAFKA_BROKERS: '',
        ONESTOP_MASTER_KEYS: '',
        JWT_SECRET: '',
        ONESTOP_INDEX_KEY: '',
        ONESTOP_AUDIT_SIGNING_KEY: '',
        ONESTOP_PROGRESS_INTERVAL_MS: '',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += String(d)));
    child.stderr.on('data', (d) => (stderr += String(d)));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`onestop ${args.join(' ')} did not finish within ${CLI_TIMEOUT_MS} ms:\n${stdout}\n${stderr}`));
    }, CLI_TIMEOUT_MS);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** `what` as text for an assertion message. */
export const shown = (r: Run) => `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;

