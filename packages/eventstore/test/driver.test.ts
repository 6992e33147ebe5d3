import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '@onestop/testkit';
import { applySchema, PGliteDriver, PgDriver, sqlLiteral, type SqlDriver } from '../src/index.js';

const awkward = [
  '',
  "it's",
  'back\\slash \\n not a newline',
  String.raw`{"quote":"\"","tab":"\t","unicode":"\u00e8 è ✓"}`,
  JSON.stringify({ nested: { q: "'", bs: '\\', nl: '\n' } }),
  "E'not an escape'",
];

describe('sqlLiteral', () => {
  it('refuses a NUL character (PostgreSQL text cannot hold one)', () => {
    expect(() => sqlLiteral('a\0b')).toThrow(/NUL/);
  });
});

function scriptSuite(name: string, open: () => Promise<{ driver: SqlDriver; close(): Promise<void> }>) {
  describe(`SqlDriver.script: ${name}`, () => {
    let driver: SqlDriver;
    let close: () => Promise<void>;
    beforeAll(async () => {
      ({ driver, close } = await open());
      await driver.exec('CREATE TABLE IF NOT EXISTS script_t (v text NOT NULL)');
    });
    afterAll(async () => close?.());

    it('reads back every awkward string spliced in with sqlLiteral, unchanged', async () => {
      for (const s of awkward) {
        const rows = await driver.script<{ v: string }>(`SELECT ${sqlLiteral(s)}::text AS v`);
        expect(rows).toEqual([{ v: s }]);
      }
      const json = JSON.stringify({ a: "'\\\"", b: [1, 'è'] });
      const [row] = await driver.script<{ j: unknown }>(`SELECT ${sqlLiteral(json)}::jsonb AS j`);
      expect(row!.j).toEqual(JSON.parse(json));
    });

    it('returns the rows of the last statement, and runs all of them as one transaction', async () => {
      const rows = await driver.script<{ n: number }>(`INSERT INTO script_t VALUES ('kept'); SELECT count(*)::int AS n FROM script_t`);
      expect(rows).toEqual([{ n: 1 }]);
      await expect(driver.script(`INSERT INTO script_t VALUES ('rolled back'); SELECT 1 / 0`)).rejects.toThrow(/division by zero/);
      expect(await driver.query('SELECT v FROM script_t ORDER BY v')).toEqual([{ v: 'kept' }]);
    });
  });
}

let tdb: TestDatabase | undefined;
scriptSuite('PostgreSQL (pg)', async () => {
  tdb = await createTestDatabase('driver');
  const pool = new pg.Pool({ connectionString: tdb.url, max: 2 });
  return {
    driver: new PgDriver(pool),
    async close() {
      await pool.end();
      await tdb?.drop();
    },
  };
});
scriptSuite('embedded (PGlite)', async () => {
  const db = new PGlite();
  return { driver: new PGliteDriver(db), close: () => db.close() };
});

describe('applySchema: processes starting together', () => {
  let db: TestDatabase;
  const pools: pg.Pool[] = [];
  beforeAll(async () => {
    db = await createTestDatabase('driver_ddl');
    // one pool per "process": separate backends, as replicas starting together have
    for (let i = 0; i < 6; i++) pools.push(new pg.Pool({ connectionString: db.url, max: 1 }));
  });
  afterAll(async () => {
    await Promise.all(pools.map((p) => p.end()));
    await db?.drop();
  });

  it('every one of them succeeds, whether their scripts share a lock key or create the same schema under different ones', async () => {
    for (let round = 0; round < 8; round++) {
      const script = `CREATE SCHEMA IF NOT EXISTS raced_${round};
CREATE TABLE IF NOT EXISTS raced_${round}.t (id int PRIMARY KEY);
CREATE INDEX IF NOT EXISTS t_id ON raced_${round}.t (id);`;
      const results = await Promise.allSettled(
        pools.map((pool, i) => applySchema(new PgDriver(pool), round % 2 === 0 ? 990000 : 990000 + i, script)),
      );
      expect(results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason))).toEqual([]);
      const [row] = await pools[0]!.query(`SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'raced_${round}'`).then((r) => r.rows);
      expect(row).toEqual({ n: 1 });
    }
  });
});
