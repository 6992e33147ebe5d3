import { z } from 'zod';
import { OneStopError } from '@onestop/events';

/** A bad or missing configuration variable; start-up stops with this message. */
export class ConfigError extends OneStopError {
  constructor(readonly problems: string[]) {
    super('invalid_configuration', `invalid configuration:\n  ${problems.join('\n  ')}`, 500, { problems });
  }
}

const csv = z
  .string()
  .transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean));

/**
 * Every environment variable OneStop reads, with its default and meaning.
 * The README's configuration table is written from this schema.
 */
export const BaseConfigSchema = z.object({
  NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** `auto`: readable lines on a terminal in development, JSON lines otherwise */
  LOG_FORMAT: z.enum(['auto', 'json', 'pretty']).default('auto'),
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  ONESTOP_DATA_DIR: z.string().min(1).default('.data'),
  ONESTOP_STORE: z.enum(['embedded', 'postgres', 'kurrentdb']).default('embedded'),
  DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }).optional(),
  DATABASE_POOL_SIZE: z.coerce.number().int().min(1).max(500).default(20),
  KURRENTDB_URL: z.string().regex(/^(kurrentdb|esdb|kdb)(\+discover)?:\/\//, 'kurrentdb://… connection string').optional(),
  ONESTOP_BUS: z.enum(['embedded', 'kafka']).default('embedded'),
  KAFKA_BROKERS: csv.optional(),
  KAFKA_CLIENT_ID: z.string().min(1).default('onestop'),
  KAFKA_PARTITIONS: z.coerce.number().int().min(1).max(1000).default(6),
  /**
   * how long a partner's own answers (notes included, as the partner wrote them) stay on its
   * `onestop.partner.<id>.responses.v1` topic (retention.ms); the referral service sets it on
   * those topics when it creates them and at every start. Longer than the referral service may
   * ever be down, or unread answers are lost; default 7 days, at least 1 hour in production
   */
  KAFKA_PARTNER_RESPONSES_RETENTION_MS: z.coerce.number().int().min(1000).max(365 * 24 * 3600_000).default(7 * 24 * 3600_000),
  /** how long a consumer retries a transient failure of one message (backoff 100 ms doubling to 30 s) before it dead-letters it; default 10 minutes */
  ONESTOP_TRANSIENT_RETRY_MS: z.coerce.number().int().min(0).max(7 * 24 * 3600_000).default(600_000),
  JWT_SECRET: z.string().min(32, 'at least 32 characters').optional(),
  JWT_JWKS_URL: z.url().optional(),
  /** production only: accept HS256 tokens signed with JWT_SECRET (a shared secret every service holds); refused unless `true`, and warned about at every start */
  JWT_ALLOW_HS256_IN_PRODUCTION: z.enum(['true', 'false']).default('false').transform((v) => v === 'true'),
  /** refuse bearer tokens that live longer (exp − iat, or exp − now), in seconds: short-lived tokens, refreshed at the identity provider; default 3600 in production, no limit otherwise */
  JWT_MAX_LIFETIME_SECONDS: z.coerce.number().int().min(60).max(7 * 24 * 3600).optional(),
  JWT_ISSUER: z.string().min(1).default('onestop'),
  JWT_AUDIENCE: z.string().min(1).default('onestop'),
  /** `kid:base64key[,kid:base64key…]`; the first is the active master key */
  ONESTOP_MASTER_KEYS: z.string().regex(/^[A-Za-z0-9_.-]+:[A-Za-z0-9+/=]+(,[A-Za-z0-9_.-]+:[A-Za-z0-9+/=]+)*$/, 'kid:base64key[,…]').optional(),
  /** base64 HMAC key for blind indexes (fiscal-code lookup) */
  ONESTOP_INDEX_KEY: z.string().min(32).optional(),
  /** Ed25519 private key signing audit digests (base64 PKCS#8 DER, base64 32-byte seed, or PEM); its format is checked by projections */
  ONESTOP_AUDIT_SIGNING_KEY: z.string().trim().min(1).optional(),
  /** the verifiable log's name: the origin line of its checkpoints and the key name of their signature (a schema-less URL) */
  ONESTOP_LOG_ORIGIN: z.string().regex(/^[^\s+]{1,200}$/, 'one word without spaces or "+", e.g. onestop.pistoia.example/log').default('onestop.local/log'),
  /** how often the log signs a checkpoint when its tree has grown (ms); 0: only on demand (`onestop checkpoint`) */
  ONESTOP_CHECKPOINT_INTERVAL_MS: z.coerce.number().int().min(0).max(24 * 3600_000).default(10_000),
  /** the witnesses whose cosignatures count: their vkeys (`<name>+<hex key id>+<base64 key>`, Ed25519 cosigners), separated by commas */
  ONESTOP_WITNESSES: csv.optional(),
  /** how many of ONESTOP_WITNESSES must cosign a checkpoint before it is final (default: 1 when witnesses are configured, else 0) */
  ONESTOP_WITNESS_QUORUM: z.coerce.number().int().min(0).max(100).optional(),
  ONESTOP_AGREEMENT_ID: z.string().regex(/^[a-z0-9-]{2,64}$/).default('accordo-pistoia'),
  /** the largest document a team member may upload (bytes, default 10 MB); a larger one is refused with 413 */
  ONESTOP_DOCUMENT_MAX_BYTES: z.coerce.number().int().min(1024).max(100 * 1024 * 1024).default(10 * 1024 * 1024),
  /** how often the SLA watcher looks for late answers */
  ONESTOP_SLA_INTERVAL_MS: z.coerce.number().int().min(100).max(24 * 3600_000).default(60_000),
  /** how often the deadline watcher looks at the statutory clocks of the cases */
  ONESTOP_DEADLINE_INTERVAL_MS: z.coerce.number().int().min(100).max(24 * 3600_000).default(60_000),
  /** DeadlineApproaching this many days before a statutory deadline */
  ONESTOP_DEADLINE_APPROACHING_DAYS: z.coerce.number().int().min(0).max(90).default(14),
  /** development and tests only: the process clock runs this far ahead of the system clock (refused in production) */
  ONESTOP_CLOCK_OFFSET_MS: z.coerce.number().int().min(-100 * 365 * 24 * 3600_000).max(100 * 365 * 24 * 3600_000).default(0),
  /** OpenTelemetry traces: `off` (default) or `otlp` (OTLP/HTTP to OTEL_EXPORTER_OTLP_ENDPOINT) */
  ONESTOP_TRACING: z.enum(['off', 'otlp']).default('off'),
  /** the OTLP/HTTP collector; traces go to `<endpoint>/v1/traces` */
  OTEL_EXPORTER_OTLP_ENDPOINT: z.url({ protocol: /^https?$/ }).default('http://127.0.0.1:4318'),
  /** the `service.name` of this process's spans (default: the process's name, e.g. `onestop`, `intake`) */
  OTEL_SERVICE_NAME: z.string().regex(/^[A-Za-z0-9._-]{1,100}$/).optional(),
  /** the share of new traces that are kept (0 to 1); a caller's sampled trace is always continued */
  ONESTOP_TRACE_SAMPLE_RATIO: z.coerce.number().min(0).max(1).default(1),
  /** serve /metrics without a token on this port of its own (internal network only); unset: /metrics on the service port, admin token required */
  METRICS_PORT: z.coerce.number().int().min(1).max(65535).optional(),
  METRICS_HOST: z.string().min(1).default('127.0.0.1'),
  /** the FHIR facade's base URL as partners reach it (notification bundles name resources by it); default http://HOST:PORT/fhir */
  ONESTOP_FHIR_BASE_URL: z.url().optional(),
  /** longest pause between retries of a FHIR notification to an endpoint that fails (backoff from 500 ms, doubling) */
  ONESTOP_FHIR_RETRY_MAX_MS: z.coerce.number().int().min(100).max(3600_000).default(60_000),
  /** the console's OpenID provider (issuer URL; its discovery document is read from `<issuer>/.well-known/openid-configuration`) */
  ONESTOP_OIDC_ISSUER: z.url().optional(),
  /** the console's public client id at that provider (authorization code with PKCE, no client secret) */
  ONESTOP_OIDC_CLIENT_ID: z.string().min(1).max(200).optional(),
  ONESTOP_OIDC_SCOPE: z.string().min(1).max(500).default('openid profile'),
  RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(1).default(600),
  BODY_LIMIT_BYTES: z.coerce.number().int().min(1024).default(256 * 1024),
});

export type BaseConfig = z.infer<typeof BaseConfigSchema>;

/** Shorter retentions of partner answers are for tests (they watch the broker delete them). */
const MIN_PRODUCTION_RESPONSES_RETENTION_MS = 3600_000;

/** Cross-variable rules: what each mode needs. */
function checkModes(c: BaseConfig): string[] {
  const p: string[] = [];
  if (c.ONESTOP_STORE === 'postgres' && !c.DATABASE_URL) p.push('DATABASE_URL: required when ONESTOP_STORE=postgres');
  if (c.ONESTOP_STORE === 'kurrentdb' && !c.KURRENTDB_URL) p.push('KURRENTDB_URL: required when ONESTOP_STORE=kurrentdb');
  if (c.ONESTOP_STORE === 'kurrentdb' && !c.DATABASE_URL) {
    p.push('DATABASE_URL: required when ONESTOP_STORE=kurrentdb (read models and service state live in PostgreSQL)');
  }
  if (c.ONESTOP_BUS === 'kafka' && !c.KAFKA_BROKERS?.length) p.push('KAFKA_BROKERS: required when ONESTOP_BUS=kafka');
  if (c.ONESTOP_BUS === 'kafka' && c.ONESTOP_STORE === 'embedded') {
    p.push('ONESTOP_BUS: kafka needs a shared event store (ONESTOP_STORE=postgres or kurrentdb)');
  }
  if ((c.ONESTOP_WITNESS_QUORUM ?? 0) > (c.ONESTOP_WITNESSES?.length ?? 0)) {
    p.push(`ONESTOP_WITNESS_QUORUM: ${c.ONESTOP_WITNESS_QUORUM} cosignatures asked of ${c.ONESTOP_WITNESSES?.length ?? 0} witnesses (ONESTOP_WITNESSES)`);
  }
  if (c.ONESTOP_OIDC_ISSUER && !c.ONESTOP_OIDC_CLIENT_ID) p.push('ONESTOP_OIDC_CLIENT_ID: required with ONESTOP_OIDC_ISSUER');
  if (c.NODE_ENV === 'production') {
    if (!c.JWT_JWKS_URL && !(c.JWT_SECRET && c.JWT_ALLOW_HS256_IN_PRODUCTION)) {
      p.push('JWT_JWKS_URL: required in production (asymmetric keys of the identity provider); HS256 with JWT_SECRET only with JWT_ALLOW_HS256_IN_PRODUCTION=true');
    }
    if (!c.ONESTOP_MASTER_KEYS) p.push('ONESTOP_MASTER_KEYS: required in production');
    if (!c.ONESTOP_INDEX_KEY) p.push('ONESTOP_INDEX_KEY: required in production');
    if (!c.ONESTOP_AUDIT_SIGNING_KEY) p.push('ONESTOP_AUDIT_SIGNING_KEY: required in production');
    if (c.ONESTOP_CLOCK_OFFSET_MS !== 0) p.push('ONESTOP_CLOCK_OFFSET_MS: development and tests only, refused in production');
    if (c.KAFKA_PARTNER_RESPONSES_RETENTION_MS < MIN_PRODUCTION_RESPONSES_RETENTION_MS) {
      p.push(`KAFKA_PARTNER_RESPONSES_RETENTION_MS: at least ${MIN_PRODUCTION_RESPONSES_RETENTION_MS} (1 hour) in production: a shorter one loses the answers the referral service has not read while it restarts`);
    }
  }
  return p;
}

/** The longest token lifetime this configuration accepts (seconds), or undefined for no limit. */
export function maxTokenLifetimeSeconds(c: Pick<BaseConfig, 'NODE_ENV' | 'JWT_MAX_LIFETIME_SECONDS'>): number | undefined {
  // a stolen token is good until it expires unless revoked: in production none lives longer than an hour by default
  return c.JWT_MAX_LIFETIME_SECONDS ?? (c.NODE_ENV === 'production' ? 3600 : undefined);
}

/** What start-up must shout about: a configuration that is allowed but weakens security. */
export function configWarnings(c: BaseConfig): string[] {
  const w: string[] = [];
  if (c.NODE_ENV === 'production' && !c.JWT_JWKS_URL && c.JWT_SECRET && c.JWT_ALLOW_HS256_IN_PRODUCTION) {
    w.push('SECURITY WARNING: production accepts HS256 tokens signed with the shared JWT_SECRET (JWT_ALLOW_HS256_IN_PRODUCTION=true): anyone holding the secret of any service can mint an admin token. Use JWT_JWKS_URL.');
  }
  return w;
}

/**
 * The one config loader: validates the environment against a schema (the base
 * one, or a service's extension of it) and names every bad or missing variable.
 */
export function loadConfig<S extends z.ZodType<BaseConfig>>(
  env: Record<string, string | undefined> = process.env,
  schema: S = BaseConfigSchema as unknown as S,
): z.infer<S> {
  // empty strings mean "unset", as in most deployment tools
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const r = schema.safeParse(cleaned);
  if (!r.success) {
    throw new ConfigError(r.error.issues.map((i) => `${i.path.join('.') || '(env)'}: ${i.message}`));
  }
  const problems = checkModes(r.data);
  if (problems.length) throw new ConfigError(problems);
  return r.data;
}
