import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { DeadLetter, DeadLetterStatus, EventBus } from '@onestop/bus';
import { ConflictError, NotFoundError, OneStopError } from '@onestop/events';
import { principalOf, type ServiceContext } from '@onestop/kit';

// Dead letters for admins: what a consumer could not handle (bus.dead_letters),
// and their re-drive to the group they failed in — the HTTP side of
// `onestop dlq list | show | redrive`. Values are shown as stored (ids and
// ciphertext: no plain personal data goes to the bus); nothing is decrypted.
// A re-drive records the admin's token subject, the time and the reason.

const ADMIN = ['admin'] as const;
const STATUSES = ['open', 'redrive_requested', 'redriven', 'resolved', 'redrive_failed'] as const satisfies readonly DeadLetterStatus[];
/** ids are bigserial; 18 digits always fit a bigint */
const DeadLetterId = z.string().regex(/^\d{1,18}$/, 'a dead letter id is a whole number');
const Group = z.string().regex(/^[A-Za-z0-9._:@-]{1,200}$/, 'a consumer group name');
const Reason = z
  .string()
  .trim()
  .min(1)
  .max(500)
  .describe('why (a ticket, the fix): stored with the admin and the time in bus.dead_letter_redrives and logged; write no personal data');
/** Open letters re-driven by one call of POST /admin/dead-letters/redrive; call again for the rest. */
const REDRIVE_ALL_MAX = 500;

const Redrive = z.object({ at: z.string(), by: z.string().describe("the admin's token subject (or the CLI's actor)"), reason: z.string() });
const Summary = z.object({
  id: z.string(),
  group: z.string().describe('the consumer group it failed in, and the one a re-drive hands it back to'),
  reason: z.string().describe('why it failed'),
  origin: z.string().describe('`store@<position>`, `<topic>/<partition>@<offset>`, or `redrive:<id>@<time>`'),
  key: z.string().nullable(),
  recordedAt: z.string(),
  status: z.enum(STATUSES),
  redriveOf: z.string().nullable().describe('the dead letter whose re-drive failed again as this one'),
  lastRedrive: Redrive.nullable(),
});
const Letter = Summary.extend({
  payload: z.unknown().describe('the message as stored: ids and ciphertext, never decrypted'),
  headers: z.record(z.string(), z.string()),
  redrives: z.array(Redrive).describe('every re-drive, oldest first'),
});
const Page = z.object({
  deadLetters: z.array(Summary).describe('newest first; without values and headers (GET /admin/dead-letters/{deadLetterId} has them)'),
  nextBefore: z.string().nullable().describe('pass as `before` for the next page; null on the last'),
});
const Redriven = z.object({ deadLetterId: z.string(), group: z.string(), status: z.enum(STATUSES), redrive: Redrive });
const RedrivenAll = z.object({
  redriven: z.array(Redriven).describe('oldest first, the order they failed in'),
  skipped: z.array(z.object({ deadLetterId: z.string(), code: z.string(), detail: z.string() })).describe('open letters that cannot be re-driven (e.g. too big to keep); they stay open'),
  remaining: z.number().int().describe('open letters left for another call (skipped ones included)'),
});

const summary = ({ payload: _payload, headers: _headers, ...rest }: DeadLetter) => rest;

/** Refuses a letter that is not open: re-driven already (requested, handed back, resolved) or failed again as a newer letter. */
function mustBeOpen(letter: DeadLetter): void {
  if (letter.status === 'open') return;
  if (letter.status === 'redrive_failed') {
    throw new ConflictError('already_redriven', `dead letter ${letter.id} was re-driven and failed again: re-drive the newer dead letter whose redriveOf is ${letter.id}`, { deadLetterStatus: letter.status });
  }
  throw new ConflictError('already_redriven', `dead letter ${letter.id} was re-driven already (${letter.status})`, { deadLetterStatus: letter.status, lastRedrive: letter.lastRedrive });
}

async function redriveOne(bus: EventBus, id: string, by: { actor: string; reason: string }) {
  const letter = await bus.deadLetter(id);
  if (!letter) throw new NotFoundError('dead letter', id);
  mustBeOpen(letter);
  const redrive = await bus.redrive(id, by);
  const after = await bus.deadLetter(id);
  return { deadLetterId: id, group: letter.group, status: after?.status ?? letter.status, redrive };
}

/** The open letters (of a group, or every group), oldest first. */
async function openLetters(bus: EventBus, group: string | undefined): Promise<string[]> {
  const ids: string[] = [];
  for (let before: string | undefined; ; ) {
    const page = await bus.deadLetters({ group, status: 'open', limit: 200, before });
    ids.push(...page.map((l) => l.id));
    if (page.length < 200) return ids.reverse();
    before = page.at(-1)!.id;
  }
}

export const deadLetterRoutes = (): FastifyPluginAsync<{ ctx: ServiceContext }> =>
  async (app, { ctx }) => {
    const r = app.withTypeProvider<ZodTypeProvider>();

    r.get(
      '/admin/dead-letters',
      {
        config: { roles: ADMIN },
        schema: {
          tags: ['operations'],
          summary: 'Dead letters, newest first: what a consumer could not handle, with why',
          description: 'As `onestop dlq list`: without values and headers. Page with `before` = the `nextBefore` of the previous page.',
          querystring: z
            .object({
              group: Group.optional(),
              status: z.enum(STATUSES).optional(),
              limit: z.coerce.number().int().min(1).max(500).default(100),
              before: DeadLetterId.optional().describe('only letters with a lower id'),
            })
            .strict(),
          response: { 200: Page },
        },
      },
      async (req) => {
        const { limit, ...filter } = req.query;
        const page = await ctx.bus.deadLetters({ ...filter, limit: limit + 1 });
        const shown = page.slice(0, limit);
        return { deadLetters: shown.map(summary), nextBefore: page.length > limit ? shown.at(-1)!.id : null };
      },
    );

    r.get(
      '/admin/dead-letters/:deadLetterId',
      {
        config: { roles: ADMIN },
        schema: {
          tags: ['operations'],
          summary: 'One dead letter as stored (ids and ciphertext, never decrypted), with every re-drive of it',
          params: z.object({ deadLetterId: DeadLetterId }),
          response: { 200: Letter },
        },
      },
      async (req) => {
        const letter = await ctx.bus.deadLetter(req.params.deadLetterId);
        if (!letter) throw new NotFoundError('dead letter', req.params.deadLetterId);
        return letter;
      },
    );

    r.post(
      '/admin/dead-letters/:deadLetterId/redrive',
      {
        config: { roles: ADMIN, idempotent: true },
        schema: {
          tags: ['operations'],
          summary: 'Hand an open dead letter back to the consumer group it failed in; the re-drive is recorded',
          description:
            'Accepted (202): the group handles the message shortly (status `resolved` then), or it fails again as a new dead letter naming this one. ' +
            'The admin (token subject), the time and the reason are recorded in bus.dead_letter_redrives: the reason must hold no personal data. ' +
            'Only an open letter is re-driven: one re-driven already is refused (409 already_redriven) and nothing is recorded, so a second call changes nothing; ' +
            '409 not_redrivable when the letter kept no message to hand back (too big: its bytes are on the DLQ topic). ' +
            'Two calls at the same instant may both pass: the group’s handlers are idempotent, so the message is still applied once.',
          params: z.object({ deadLetterId: DeadLetterId }),
          body: z.object({ reason: Reason }).strict().meta({ examples: [{ reason: 'the partner fixed its message schema; ticket 4711' }] }),
          response: { 202: Redriven },
        },
      },
      async (req, reply) => {
        const done = await redriveOne(ctx.bus, req.params.deadLetterId, { actor: principalOf(req).sub, reason: req.body.reason });
        return reply.code(202).send(done);
      },
    );

    r.post(
      '/admin/dead-letters/redrive',
      {
        config: { roles: ADMIN, idempotent: true },
        schema: {
          tags: ['operations'],
          summary: 'Re-drive every open dead letter of a group (or of every group), oldest first; each re-drive is recorded',
          description:
            `As \`onestop dlq redrive --all\`: at most ${REDRIVE_ALL_MAX} letters a call; \`remaining\` says how many are left for another call. ` +
            'The admin (token subject), the time and the reason are recorded for each: the reason must hold no personal data. ' +
            'Letters that cannot be re-driven are listed in `skipped` and stay open.',
          body: z.object({ reason: Reason, group: Group.optional() }).strict().meta({ examples: [{ reason: 'projections were down during the upgrade; ticket 4712', group: 'projections' }] }),
          response: { 202: RedrivenAll },
        },
      },
      async (req, reply) => {
        const by = { actor: principalOf(req).sub, reason: req.body.reason };
        const open = await openLetters(ctx.bus, req.body.group);
        const redriven: Array<z.infer<typeof Redriven>> = [];
        const skipped: Array<z.infer<typeof RedrivenAll>['skipped'][number]> = [];
        for (const id of open.slice(0, REDRIVE_ALL_MAX)) {
          try {
            redriven.push(await redriveOne(ctx.bus, id, by));
          } catch (e) {
            // a letter re-driven meanwhile by someone else, or one that cannot be: the others still go
            if (!(e instanceof OneStopError) || e.status >= 500) throw e;
            skipped.push({ deadLetterId: id, code: e.code, detail: e.message });
          }
        }
        const remaining = open.length - redriven.length - skipped.filter((s) => s.code === 'already_redriven' || s.code === 'not_found').length;
        return reply.code(202).send({ redriven, skipped, remaining });
      },
    );
  };
