/** Time comes from here, never from `new Date()` in domain code, so tests can move it. */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/** The system clock moved by a fixed offset (ONESTOP_CLOCK_OFFSET_MS, development and tests only). */
export const offsetClock = (offsetMs: number): Clock => (offsetMs === 0 ? systemClock : { now: () => new Date(Date.now() + offsetMs) });

/** A clock tests set and advance by hand. */
export class ManualClock implements Clock {
  constructor(private current: Date = new Date('2026-11-26T09:00:00.000Z')) {}
  now(): Date {
    return new Date(this.current);
  }
  set(at: Date | string): void {
    this.current = new Date(at);
  }
  advance(ms: number): void {
    this.current = new Date(this.current.getTime() + ms);
  }
}
