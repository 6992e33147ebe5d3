// Opt-in experiments (BENCH_EXPERIMENTS=1): the store as it is, with one
// change each, run beside it in the same rounds, to size a recommended change
// before anyone makes it in packages/eventstore. They only wrap the public
// SqlDriver port and add scratch copies of SQL functions to the bench's own
// throw-away database; nothing of the packages is modified.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SqlDriver } from '@onestop/eventstore';
import { REPO_ROOT } from './env.js';

export const experimentsEnabled = (): boolean => process.env.BENCH_EXPERIMENTS === '1';

/** The driver with `notify` a no-op: the store without its NOTIFY round trip after every append. */
export function withoutNotify(driver: SqlDriver): SqlDriver {
  return {
    query: (text, params, name) => driver.query(text, params, name),
    exec: (script) => driver.exec(script),
    transaction: (fn) => driver.transaction(fn),
    listen: (channel, onNotify) => driver.listen(channel, onNotify),
    notify: async () => undefined,
    close: async () => undefined,
  };
}

/** The driver with `eventstore.append(` calls sent to another function of the same signature. */
export function appendThrough(driver: SqlDriver, fn: string): SqlDriver {
  return {
    query: (text, params, name) =>
      name === 'eventstore_append'
        ? driver.query(
            text.replace('eventstore.append(', `${fn}(`),
            params,
            `${name}_${fn.replace(/\W/g, '_')}`,
          )
        : driver.query(text, params, name),
    exec: (script) => driver.exec(script),
    transaction: (fn2) => driver.transaction(fn2),
    listen: (channel, onNotify) => driver.listen(channel, onNotify),
    notify: (channel) => driver.notify(channel),
    close: async () => undefined,
  };
}

/**
 * A scratch copy of schema.sql's append function without the idempotency
 * pre-check (`SELECT count(*) … WHERE event_id = ANY(…)` on every append): the
 * unique constraint on event_id still refuses a second copy, and a replay would
 * be recognised on that error instead, off the hot path.
 */
export function appendWithoutPrecheckSql(name = 'eventstore.append_noprecheck'): string {
  const schema = readFileSync(
    join(REPO_ROOT, 'packages', 'eventstore', 'src', 'schema.sql'),
    'utf8',
  );
  const fn = schema.slice(schema.indexOf('CREATE OR REPLACE FUNCTION eventstore.append('));
  const start = fn.indexOf('  -- Idempotent retry');
  const end = fn.indexOf('  SELECT ev.stream_position, ev.hash INTO v_head');
  if (start < 0 || end < 0)
    throw new Error('schema.sql changed: the experiment cannot find the idempotency pre-check');
  return (fn.slice(0, start) + fn.slice(end)).replace(
    'FUNCTION eventstore.append(',
    `FUNCTION ${name}(`,
  );
}
