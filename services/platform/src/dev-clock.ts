import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { RuleViolation } from '@onestop/events';
import type { AdjustableClock, ServiceModule } from '@onestop/kit';

// Development only: the control that moves the platform's clock, for trying
// deadlines (overdue answers, statutory clocks) without waiting for them.
// `npm start` mounts it unless NODE_ENV=production; no service's own process
// (`npm run start:*`, the production image) ever does. Admins only.

const ClockState = z.object({
  now: z.string().describe("the platform's time"),
  offsetMs: z.number().describe('how far it runs ahead of the system clock (negative: behind)'),
});
const MAX_OFFSET_MS = 10 * 365 * 24 * 3600_000;

/** The `/dev/clock` routes on this clock. */
export function devClockModule(clock: AdjustableClock): ServiceModule {
  const state = () => ({ now: clock.now().toISOString(), offsetMs: clock.offset });
  return {
    name: 'dev-clock',
    title: 'Development clock',
    description: "Development only (never mounted with NODE_ENV=production): read and move the platform's clock.",
    routes: async (app) => {
      const r = app.withTypeProvider<ZodTypeProvider>();
      r.get('/dev/clock', { config: { roles: ['admin'] }, schema: { tags: ['development'], summary: "The platform's clock", response: { 200: ClockState } } }, () => state());
      r.post(
        '/dev/clock',
        {
          config: { roles: ['admin'] },
          schema: {
            tags: ['development'],
            summary: "Set (`at`), advance (`advanceMs`) or reset the platform's clock",
            body: z.union([
              z.object({ at: z.iso.datetime({ offset: true }) }).strict(),
              z.object({ advanceMs: z.number().int().min(-MAX_OFFSET_MS).max(MAX_OFFSET_MS) }).strict(),
              z.object({ reset: z.literal(true) }).strict(),
            ]),
            response: { 200: ClockState },
          },
        },
        (req) => {
          const body = req.body;
          if ('reset' in body) clock.reset();
          else if ('at' in body) clock.set(new Date(body.at));
          else clock.advance(body.advanceMs);
          if (Math.abs(clock.offset) > MAX_OFFSET_MS) {
            clock.reset();
            throw new RuleViolation('clock_out_of_range', 'the clock may run at most 10 years from the system clock; it was reset');
          }
          return state();
        },
      );
    },
  };
}
