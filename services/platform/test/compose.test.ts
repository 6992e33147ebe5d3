import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig } from '@onestop/kit';
import { REPO_ROOT } from '@onestop/testkit';

interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile: string };
  command?: string[];
  environment?: Record<string, string | number>;
  ports?: string[];
  depends_on?: Record<string, unknown>;
}

const compose = parse(readFileSync(join(REPO_ROOT, 'infra', 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, ComposeService>;
};
const APP_SERVICES = ['intake', 'assessment', 'referral', 'projections'];

describe('infra/docker-compose.yml', () => {
  it('has the infrastructure and one container per service', () => {
    expect(Object.keys(compose.services)).toEqual(expect.arrayContaining(['postgres', 'kafka', 'kurrentdb', ...APP_SERVICES]));
  });

  it.each(APP_SERVICES)('%s: its environment passes the config schema (production rules included)', (name) => {
    // secrets are required variables (`${VAR:?…}`): give them values as an operator's .env would
    const secrets: Record<string, string> = {
      JWT_JWKS_URL: 'https://idp.example/realms/onestop/protocol/openid-connect/certs',
      JWT_ISSUER: 'https://idp.example/realms/onestop',
      ONESTOP_MASTER_KEYS: `k1:${randomBytes(32).toString('base64')}`,
      ONESTOP_INDEX_KEY: randomBytes(32).toString('base64'),
      ONESTOP_AUDIT_SIGNING_KEY: randomBytes(32).toString('base64'),
    };
    const env = Object.fromEntries(
      Object.entries(compose.services[name]!.environment ?? {}).map(([k, v]) => [
        k,
        String(v).replace(/\$\{(\w+):\?[^}]*\}/g, (_m, variable: string) => {
          if (!(variable in secrets)) throw new Error(`unexpected required variable ${variable}`);
          return secrets[variable]!;
        }),
      ]),
    );
    const config = loadConfig(env);
    expect(config.NODE_ENV).toBe('production');
    expect(config.ONESTOP_STORE).toBe('postgres');
    expect(config.ONESTOP_BUS).toBe('kafka');
  });

  it.each(APP_SERVICES)('%s: ports, dependencies and entry point are consistent', (name) => {
    const svc = compose.services[name]!;
    const port = String(svc.environment!.PORT);
    expect(svc.ports).toEqual([`${port}:${port}`]);
    for (const dep of Object.keys(svc.depends_on ?? {})) expect(compose.services[dep], dep).toBeDefined();
    const dbHost = new URL(String(svc.environment!.DATABASE_URL)).hostname;
    expect(compose.services[dbHost], `DATABASE_URL host ${dbHost}`).toBeDefined();
    for (const broker of String(svc.environment!.KAFKA_BROKERS).split(',')) {
      const [host, brokerPort] = broker.split(':');
      const kafka = compose.services[host!];
      expect(kafka, `KAFKA_BROKERS host ${host}`).toBeDefined();
      expect(String(kafka!.environment!.KAFKA_ADVERTISED_LISTENERS)).toContain(`${host}:${brokerPort}`);
    }
    // the command runs the built main of a service that exists in the repo
    const main = svc.command!.at(-1)!;
    expect(main).toBe(`services/${name}/dist/main.js`);
    expect(existsSync(join(REPO_ROOT, 'services', name, 'src', 'main.ts')), `services/${name}/src/main.ts`).toBe(true);
    expect(existsSync(join(REPO_ROOT, svc.build!.dockerfile))).toBe(true);
  });

  it('has no default for any secret', () => {
    const text = readFileSync(join(REPO_ROOT, 'infra', 'docker-compose.yml'), 'utf8');
    // and no shared token secret at all: production trusts the identity provider's JWKS
    expect(text).not.toContain('JWT_SECRET');
    for (const secret of ['JWT_JWKS_URL', 'ONESTOP_MASTER_KEYS', 'ONESTOP_INDEX_KEY', 'ONESTOP_AUDIT_SIGNING_KEY']) {
      expect(text).toContain(`\${${secret}:?`);
      expect(text).not.toContain(`\${${secret}:-`);
    }
  });

  it('every published host port is used once', () => {
    const hostPorts = Object.values(compose.services).flatMap((s) => (s.ports ?? []).map((p) => p.split(':')[0]));
    expect(new Set(hostPorts).size).toBe(hostPorts.length);
  });
});
