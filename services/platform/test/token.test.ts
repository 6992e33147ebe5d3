import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJwt } from 'jose';
import { afterAll, describe, expect, it } from 'vitest';
import { Authenticator } from '@onestop/kit';
import { main } from '../src/cli.js';

// `onestop token`: development tokens signed with the secret `npm start` uses,
// checked with the same Authenticator the services verify tokens with.

const dataDir = mkdtempSync(join(tmpdir(), 'onestop-token-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

async function token(args: string[], env: Record<string, string> = {}) {
  let stdout = '';
  let stderr = '';
  const code = await main(['token', ...args], {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    env: { ONESTOP_DATA_DIR: dataDir, NODE_ENV: 'development', ...env },
  });
  return { code, stdout: stdout.trim(), stderr };
}

const verifier = () => {
  const secrets = JSON.parse(readFileSync(join(dataDir, 'dev-secrets.json'), 'utf8')) as { JWT_SECRET: string };
  return new Authenticator({ secret: secrets.JWT_SECRET, issuer: 'onestop', audience: 'onestop' });
};

describe('onestop token', () => {
  it('makes a team token (educator) with the given subject and lifetime, which the services accept', async () => {
    const r = await token(['--role', 'team', '--team-role', 'educator', '--sub', 'educatore-7', '--ttl', '2h']);
    expect(r.code, r.stderr).toBe(0);
    expect(await verifier().authenticate(`Bearer ${r.stdout}`)).toMatchObject({ role: 'team', teamRole: 'educator', sub: 'educatore-7' });
    const claims = decodeJwt(r.stdout);
    expect(claims.exp! - claims.iat!).toBe(7200);
    expect(r.stderr).toContain('team educator, sub educatore-7');
  });

  it('makes a partner token for one partner, and a tutor token with a default subject', async () => {
    const partner = await token(['--role', 'partner', '--partner', 'tutoraggio']);
    expect(await verifier().authenticate(`Bearer ${partner.stdout}`)).toMatchObject({ role: 'partner', partnerId: 'tutoraggio', sub: 'dev-partner-tutoraggio' });
    const tutor = await token(['--role', 'team', '--team-role', 'tutor']);
    expect(await verifier().authenticate(`Bearer ${tutor.stdout}`)).toMatchObject({ role: 'team', teamRole: 'tutor', sub: 'dev-team-tutor' });
    const claims = decodeJwt(tutor.stdout);
    expect(claims.exp! - claims.iat!).toBe(12 * 3600);
  });

  it.each([
    [['--role', 'team'], '--team-role'],
    [['--role', 'partner'], '--partner'],
    [['--role', 'operator', '--team-role', 'tutor'], '--team-role goes with --role team'],
    [['--role', 'team', '--team-role', 'chef'], '--team-role'],
    [['--role', 'root'], '--role'],
    [['--role', 'auditor', '--ttl', '90d'], 'from 1s to 30d'],
    [['--role', 'auditor', '--ttl', 'soon'], '--ttl'],
    [['--team-role', 'tutor'], '--role is required'],
  ])('refuses %j (exit 2) naming the option', async (args, says) => {
    const r = await token(args);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(says);
  });

  it('is refused in production, before any secret is read', async () => {
    const r = await token(['--role', 'admin'], { NODE_ENV: 'production', JWT_SECRET: 'a-production-secret-of-at-least-32-chars' });
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('development and tests only');
  });
});
