import { describe, expect, it } from 'vitest';
import { IsoDateTime } from '../src/primitives.js';

describe('IsoDateTime', () => {
  it('accepts an instant with Z or an offset', () => {
    expect(IsoDateTime.safeParse('2026-11-26T09:00:00Z').success).toBe(true);
    expect(IsoDateTime.safeParse('2026-11-26T10:00:00+01:00').success).toBe(true);
  });

  it('refuses a local time, saying that the time offset is missing', () => {
    const r = IsoDateTime.safeParse('2026-11-26T09:00:00');
    expect(r.success).toBe(false);
    expect(r.error!.issues[0]!.message).toContain('time offset (Z or ±hh:mm)');
  });
});
