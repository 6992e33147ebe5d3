import type { z } from 'zod';
import { catalogV1, type EventType } from './catalog.js';
import { EnvelopeSchema, type OneStopEvent, type RawEnvelope, type RawRecordedEvent, type RecordedEvent } from './envelope.js';
import { ValidationError, type FieldIssue } from './errors.js';

export interface CatalogEntry {
  /** the current schema version of this event type */
  version: number;
  schema: z.ZodType;
  stream: string;
}

/** Turns the payload of `fromVersion` into the payload of `fromVersion + 1`. */
export type Upcaster = (data: unknown) => unknown;

export type ParseResult<E> = { ok: true; event: E } | { ok: false; error: ValidationError };

function issuesOf(error: z.ZodError, prefix: string): FieldIssue[] {
  return error.issues.map((i) => ({
    path: [prefix, ...i.path.map(String)].filter(Boolean).join('.') || '(root)',
    message: i.message,
  }));
}

/**
 * An event catalog: schemas by type, plus the upcasters that lift stored
 * payloads of older schema versions to the current one before validation.
 */
export class EventCatalog<C extends Record<string, CatalogEntry>, E = RawEnvelope> {
  private readonly upcasters = new Map<string, Upcaster>();

  constructor(readonly entries: C) {}

  /** Registers the step `fromVersion → fromVersion + 1` for one event type. */
  registerUpcaster(type: keyof C & string, fromVersion: number, upcast: Upcaster): this {
    this.upcasters.set(`${type}@${fromVersion}`, upcast);
    return this;
  }

  has(type: string): type is keyof C & string {
    return Object.prototype.hasOwnProperty.call(this.entries, type);
  }

  /** Lifts a payload to the current version of its type, one registered step at a time. */
  upcast(type: keyof C & string, version: number, data: unknown): unknown {
    const current = this.entries[type]!.version;
    let v = version;
    let d = data;
    while (v < current) {
      const step = this.upcasters.get(`${type}@${v}`);
      if (!step) throw new ValidationError(`no upcaster for ${type} v${v}`, [{ path: 'schemaVersion', message: `no upcaster from v${v}` }]);
      d = step(d);
      v += 1;
    }
    return d;
  }

  /**
   * Validates an envelope and its payload. The error names every invalid field
   * of both, so a DLQ entry or a 400 says everything that is wrong at once.
   */
  parse(raw: unknown): ParseResult<E> {
    const issues: FieldIssue[] = [];
    const env = EnvelopeSchema.safeParse(raw);
    if (!env.success) issues.push(...issuesOf(env.error, ''));
    const type = (raw as { type?: unknown } | null)?.type;
    const version = (raw as { schemaVersion?: unknown } | null)?.schemaVersion;
    const data = (raw as { data?: unknown } | null)?.data;
    let parsedData: unknown;
    if (typeof type === 'string' && this.has(type)) {
      const entry = this.entries[type]!;
      if (typeof version === 'number' && version > entry.version) {
        issues.push({ path: 'schemaVersion', message: `${type} has no version ${version} (newest ${entry.version})` });
      } else {
        try {
          const lifted = typeof version === 'number' ? this.upcast(type, version, data) : data;
          const res = entry.schema.safeParse(lifted);
          if (res.success) parsedData = res.data;
          else issues.push(...issuesOf(res.error, 'data'));
        } catch (e) {
          if (e instanceof ValidationError) issues.push(...e.issues);
          else issues.push({ path: 'data', message: `upcasting failed: ${(e as Error).message}` });
        }
      }
    } else if (typeof type === 'string' && env.success) {
      issues.push({ path: 'type', message: `unknown event type ${JSON.stringify(type.slice(0, 100))}` });
    }
    if (issues.length > 0 || !env.success) {
      return { ok: false, error: new ValidationError(`invalid event: ${issues.map((i) => i.path).join(', ')}`, issues) };
    }
    const recorded = raw as Partial<Record<'streamPosition' | 'globalPosition' | 'hash' | 'prevHash', unknown>>;
    const event = {
      ...env.data,
      schemaVersion: this.entries[env.data.type]!.version,
      data: parsedData,
      ...('globalPosition' in recorded
        ? {
            streamPosition: recorded.streamPosition,
            globalPosition: recorded.globalPosition,
            hash: recorded.hash,
            prevHash: recorded.prevHash,
          }
        : {}),
    };
    return { ok: true, event: event as E };
  }
}

/** The catalog of DESIGN §4 with its upcasters. */
export const catalog = new EventCatalog<typeof catalogV1, OneStopEvent>(catalogV1);

/** Validates a raw event against catalog v1: a typed event, or an error naming every invalid field. */
export function parseEvent(raw: unknown): ParseResult<OneStopEvent> {
  return catalog.parse(raw);
}

/** Like parseEvent, but throws the ValidationError. */
export function parseEventOrThrow<T extends EventType = EventType>(raw: unknown): OneStopEvent<T> {
  const r = catalog.parse(raw);
  if (!r.ok) throw r.error;
  return r.event as OneStopEvent<T>;
}

/**
 * Any stored shape of an event (a full recorded event, or the slimmer one a
 * fold reads) lifted to the current schema version of its type, trusting what
 * the store holds (it was validated on append). Cheap when already current.
 */
export function liftStored<E extends { type: string; schemaVersion: number; data: unknown }>(e: E): E {
  const type = e.type;
  if (!catalog.has(type) || e.schemaVersion >= catalog.entries[type].version) return e;
  const data = catalog.upcast(type, e.schemaVersion, e.data);
  return { ...e, schemaVersion: catalog.entries[type].version, data };
}

/** A stored event lifted to the current schema version of its type (see liftStored). */
export function liftRecorded<E extends RawRecordedEvent>(e: E): RecordedEvent {
  return liftStored(e) as unknown as RecordedEvent;
}
