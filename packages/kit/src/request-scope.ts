import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash, randomUUID } from 'node:crypto';

// Ids made while a command runs. Under an Idempotency-Key they are derived
// from the key (and the request it was first used with), so a retry — after a
// lost answer, a crash, or sent twice at once to two processes — makes the
// very same entity ids and event ids, and the store, which keeps an event id
// once, records the command once (DESIGN §9: no claim table, no lease).
// Without a key they are random.

interface Scope {
  /** digest of principal, key and request fingerprint */
  seed: string;
  /** entity ids handed out so far */
  ids: number;
  /** event ids handed out so far (transact takes them in blocks) */
  events: number;
}

const storage = new AsyncLocalStorage<Scope>();

/** A version-4-shaped UUID from a digest (deterministic, still a valid UUID). */
function uuidFrom(seed: string, label: string): string {
  const h = createHash('sha256').update(seed).update('\0').update(label).digest();
  h[6] = (h[6]! & 0x0f) | 0x40;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
}

/** Runs `fn` in the scope of an idempotent request (seed: principal, key and fingerprint). */
export function runIdempotent<T>(seed: string, fn: () => T): T {
  return storage.run({ seed, ids: 0, events: 0 }, fn);
}

/** A new entity id (person, assessment, referral, goal…): derived under an Idempotency-Key, random otherwise. */
export function newId(): string {
  const s = storage.getStore();
  return s ? uuidFrom(s.seed, `id:${s.ids++}`) : randomUUID();
}

/**
 * The event ids of one command, when the request has an Idempotency-Key:
 * `at(k)` is the id of the command's k-th event, the same in every attempt and
 * every retry of the request; `mine` tells the request's own events from
 * others' (a retry decides on the state before them). Undefined without a key.
 */
export function commandEventIds(span = 256): { at(k: number): string; mine(id: string): boolean; commit(n: number): void } | undefined {
  const s = storage.getStore();
  if (!s) return undefined;
  const base = s.events;
  const ids = Array.from({ length: span }, (_, k) => uuidFrom(s.seed, `event:${base + k}`));
  const set = new Set(ids);
  return {
    at: (k) => {
      if (k >= span) throw new Error(`a command of more than ${span} events`);
      return ids[k]!;
    },
    mine: (id) => set.has(id),
    // the next command of the same request gets ids after these
    commit: (n) => void (s.events = base + n),
  };
}
