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

/**
 * The platform's clock in development and tests: the system clock moved by an
 * offset that can be set or advanced while the process runs (the demo seeds
 * its history through it; a development-only route moves it). Production runs
 * on the system clock: configuration refuses an offset there, and nothing
 * mounts the control.
 */
export class AdjustableClock implements Clock {
  private offsetMs: number;
  constructor(private readonly initialOffsetMs = 0) {
    this.offsetMs = initialOffsetMs;
  }
  now(): Date {
    return new Date(Date.now() + this.offsetMs);
  }
  /** From now on, time runs from `at`. */
  set(at: Date): void {
    this.offsetMs = at.getTime() - Date.now();
  }
  advance(ms: number): void {
    this.offsetMs += ms;
  }
  /** Back to the configured offset (ONESTOP_CLOCK_OFFSET_MS, 0 by default). */
  reset(): void {
    this.offsetMs = this.initialOffsetMs;
  }
  /** How far ahead of the system clock it runs, in ms. */
  get offset(): number {
    return this.offsetMs;
  }
}
