import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { EmbeddedBus, createKafkaBus, type EventBus } from '@onestop/bus';
import {
  PGliteDriver,
  PgDriver,
  SqlEventStore,
  createKurrentEventStore,
  type EventStore,
  type SqlDriver,
} from '@onestop/eventstore';
import { Authenticator } from './auth.js';
import { offsetClock, type Clock } from './clock.js';
import { configWarnings, maxTokenLifetimeSeconds, type BaseConfig } from './config.js';
import { lockDataDir, type DataDirLock } from './data-lock.js';
import { migrateIdempotency } from './idempotency.js';
import type { Logger } from './logger.js';
import { parseMasterKeys, PersonKeyring } from './privacy/keyring.js';
import { TokenRevocations } from './token-revocation.js';

/** Everything a service needs from the outside world, opened once per process. */
export interface Infrastructure {
  config: BaseConfig;
  logger: Logger;
  store: EventStore;
  /** service state and read models (PostgreSQL, or the embedded PGlite) */
  db: SqlDriver;
  bus: EventBus;
  keyring: PersonKeyring;
  /** HMAC key for blind indexes */
  indexKey: string;
  auth: Authenticator;
  clock: Clock;
  /** the lock on the embedded database's directory, when this process opened it */
  dataDirLock?: DataDirLock;
  close(): Promise<void>;
}

/** Adapters chosen by configuration that live outside the kit (Kafka bus, KurrentDB store). */
export interface AdapterFactories {
  kafkaBus?(ctx: { config: BaseConfig; store: EventStore; db: SqlDriver; logger: Logger }): Promise<EventBus>;
  kurrentStore?(config: BaseConfig): Promise<EventStore>;
}

export interface DevSecrets {
  JWT_SECRET: string;
  ONESTOP_MASTER_KEYS: string;
  ONESTOP_INDEX_KEY: string;
}

/**
 * Development and demo secrets: generated once and kept in the data directory
 * (mode 0600) so tokens and encrypted data survive restarts. Never in production.
 */
export function ensureDevSecrets(config: BaseConfig): BaseConfig {
  if (config.JWT_SECRET && config.ONESTOP_MASTER_KEYS && config.ONESTOP_INDEX_KEY) return config;
  if (config.NODE_ENV === 'production') throw new Error('secrets must be configured in production');
  const dir = resolve(config.ONESTOP_DATA_DIR);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'dev-secrets.json');
  let secrets: DevSecrets;
  if (existsSync(file)) {
    secrets = JSON.parse(readFileSync(file, 'utf8')) as DevSecrets;
  } else {
    secrets = {
      JWT_SECRET: randomBytes(32).toString('base64url'),
      ONESTOP_MASTER_KEYS: `dev-1:${randomBytes(32).toString('base64')}`,
      ONESTOP_INDEX_KEY: randomBytes(32).toString('base64'),
    };
    writeFileSync(file, JSON.stringify(secrets, null, 2), { mode: 0o600 });
  }
  return {
    ...config,
    JWT_SECRET: config.JWT_SECRET ?? secrets.JWT_SECRET,
    ONESTOP_MASTER_KEYS: config.ONESTOP_MASTER_KEYS ?? secrets.ONESTOP_MASTER_KEYS,
    ONESTOP_INDEX_KEY: config.ONESTOP_INDEX_KEY ?? secrets.ONESTOP_INDEX_KEY,
  };
}

/**
 * Opens the store, database, bus and keyring the configuration asks for:
 * embedded (one PGlite in the data directory, the embedded bus) or PostgreSQL
 * with Kafka and optionally KurrentDB.
 */
export async function openInfrastructure(
  config: BaseConfig,
  logger: Logger,
  options: { clock?: Clock; adapters?: AdapterFactories; pglite?: PGlite; /** who opens it, told to a second process (e.g. `npm start`) */ purpose?: string } = {},
): Promise<Infrastructure> {
  if (!config.JWT_SECRET && !config.JWT_JWKS_URL) throw new Error('JWT_SECRET or JWT_JWKS_URL is required');
  if (!config.ONESTOP_MASTER_KEYS || !config.ONESTOP_INDEX_KEY) throw new Error('ONESTOP_MASTER_KEYS and ONESTOP_INDEX_KEY are required');
  const closers: Array<() => Promise<void>> = [];
  let db: SqlDriver;
  let store: EventStore;
  let dataDirLock: DataDirLock | undefined;
  if (config.ONESTOP_STORE === 'embedded') {
    let pglite = options.pglite;
    if (!pglite) {
      // one process at a time on the embedded database; the lock dies with the process however it ends
      const lock = await lockDataDir(config.ONESTOP_DATA_DIR, options.purpose ?? 'OneStop');
      dataDirLock = lock;
      const dir = resolve(config.ONESTOP_DATA_DIR, 'pgdata');
      mkdirSync(dir, { recursive: true });
      pglite = new PGlite(dir);
      const owned = pglite;
      closers.push(() => owned.close(), () => lock.release());
    }
    db = new PGliteDriver(pglite);
    const s = new SqlEventStore(new PGliteDriver(pglite));
    reportMigration(await s.migrate(), logger);
    store = s;
  } else {
    const pool = new pg.Pool({ connectionString: config.DATABASE_URL, max: config.DATABASE_POOL_SIZE });
    pool.on('error', (err) => logger.warn({ err }, 'idle PostgreSQL connection failed'));
    closers.push(() => pool.end());
    db = new PgDriver(pool);
    if (config.ONESTOP_STORE === 'postgres') {
      const s = new SqlEventStore(new PgDriver(pool));
      reportMigration(await s.migrate(), logger);
      store = s;
    } else {
      // KurrentDB holds the events; PostgreSQL keeps read models and service state
      store = options.adapters?.kurrentStore
        ? await options.adapters.kurrentStore(config)
        : await createKurrentEventStore({ connectionString: config.KURRENTDB_URL! });
    }
  }
  closers.unshift(() => store.close());

  let bus: EventBus;
  if (config.ONESTOP_BUS === 'kafka') {
    const kafkaBus = options.adapters?.kafkaBus ?? createKafkaBus;
    bus = await kafkaBus({ config, store, db, logger });
  } else {
    const embedded = new EmbeddedBus(store, db, logger, { transientRetryMs: config.ONESTOP_TRANSIENT_RETRY_MS });
    await embedded.migrate();
    bus = embedded;
  }
  closers.unshift(() => bus.close());

  const keyring = new PersonKeyring(db, parseMasterKeys(config.ONESTOP_MASTER_KEYS));
  await keyring.migrate();
  await keyring.start();
  closers.unshift(() => keyring.close());
  // an erasure whose rewrite of the keyring did not finish (a crash) is caught up here
  await keyring.shred();
  await migrateIdempotency(db);

  for (const warning of configWarnings(config)) logger.error(warning);
  // every process reads the same revocations from the store, and hears of new ones at once
  const revocations = new TokenRevocations(store, db);
  await revocations.start();
  closers.unshift(() => revocations.close());
  const auth = new Authenticator({
    // with a JWKS, the shared secret is never a way in
    secret: config.JWT_JWKS_URL ? undefined : config.JWT_SECRET,
    jwksUrl: config.JWT_JWKS_URL,
    issuer: config.JWT_ISSUER,
    audience: config.JWT_AUDIENCE,
    maxLifetimeSeconds: maxTokenLifetimeSeconds(config),
    revocations,
  });

  return {
    config,
    logger,
    store,
    db,
    bus,
    keyring,
    indexKey: config.ONESTOP_INDEX_KEY,
    auth,
    clock: options.clock ?? offsetClock(config.ONESTOP_CLOCK_OFFSET_MS),
    ...(dataDirLock ? { dataDirLock } : {}),
    async close() {
      for (const c of closers) await c().catch((err) => logger.warn({ err }, 'error while closing'));
    },
  };
}

/** Says at start-up what the store repaired after a restore into another cluster (nothing, normally). */
function reportMigration(m: Awaited<ReturnType<SqlEventStore['migrate']>>, logger: { warn(o: object, msg: string): void }): void {
  if (m.restoredRowsRepaired > 0 || m.sequenceMovedTo !== null) {
    logger.warn({ ...m }, 'event store: events restored from another cluster were made visible (see README, Backup and restore)');
  }
}
