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
   * Checks a payload against the schema of its type, lifted from `version` to
   * the current version first: the parsed payload, or every invalid field
   * (paths start at `data`). An unknown type or a future version is an issue too.
   */
  checkData(type: string, version: unknown, data: unknown): { ok: true; data: unknown } | { ok: false; issues: FieldIssue[] } {
    if (!this.has(type)) return { ok: false, issues: [{ path: 'type', message: `unknown event type ${JSON.stringify(String(type).slice(0, 100))}` }] };
    const entry = this.entries[type]!;
    if (typeof version === 'number' && version > entry.version) {
      return { ok: false, issues: [{ path: 'schemaVersion', message: `${type} has no version ${version} (newest ${entry.version})` }] };
    }
    try {
      const lifted = typeof version === 'number' ? this.upcast(type, version, data) : data;
      const res = entry.schema.safeParse(lifted);
      return res.success ? { ok: true, data: res.data } : { ok: false, issues: issuesOf(res.error, 'data') };
    } catch (e) {
      if (e instanceof ValidationError) return { ok: false, issues: e.issues };
      return { ok: false, issues: [{ path: 'data', message: `upcasting failed: ${(e as Error).message}` }] };
    }
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
    // an unknown type is named only when the envelope is otherwise sound
    if (typeof type === 'string' && (this.has(type) || env.success)) {
      const checked = this.checkData(type, version, data);
      if (checked.ok) parsedData = checked.data;
      else issues.push(...checked.issues);
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
 * What is wrong with an event's payload for its type and schema version, by
 * catalog v1 (empty when it is valid). Every event store checks this on append.
 */
export function eventDataIssues(type: string, schemaVersion: number, data: unknown): FieldIssue[] {
  const checked = catalog.checkData(type, schemaVersion, data);
  return checked.ok ? [] : checked.issues;
}

/**
 * Any stored shape of an event (a full recorded event, or the slimmer one a
 * fold reads) lifted to the current schema version of its type, trusting what
 * the store holds: every event store checks each payload against the catalog
 * on append (eventDataIssues), so only events stored before that check, or
 * written behind the store's back, can fail. Cheap when already current.
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
