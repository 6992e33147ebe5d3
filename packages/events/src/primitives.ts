import { z } from 'zod';

/** The seven life domains assessed by the multidisciplinary team (DESIGN §4). */
export const LIFE_DOMAINS = [
  'economic',
  'employment',
  'education',
  'housing',
  'social_network',
  'health_care',
  'training',
] as const;
export const LifeDomain = z.enum(LIFE_DOMAINS);
export type LifeDomain = z.infer<typeof LifeDomain>;

/** Roles inside the multidisciplinary team. */
export const TEAM_ROLES = [
  'employment_operator',
  'social_worker',
  'educator',
  'tutor',
  'network_manager',
] as const;
export const TeamRole = z.enum(TEAM_ROLES);
export type TeamRole = z.infer<typeof TeamRole>;

/** Platform roles carried by tokens and recorded as the actor of every event (DESIGN §6). */
export const ACTOR_ROLES = ['operator', 'team', 'partner', 'auditor', 'admin', 'system'] as const;
export const ActorRole = z.enum(ACTOR_ROLES);
export type ActorRole = z.infer<typeof ActorRole>;

/** Need level: 0 no need … 4 severe need. */
export const NeedLevel = z.number().int().min(0).max(4);
export type NeedLevel = z.infer<typeof NeedLevel>;

export const Uuid = z.uuid();
/** Short identifiers chosen by people (partner and service codes): lowercase slug. */
export const Slug = z
  .string()
  .min(2)
  .max(64)
  .regex(/^[a-z0-9][a-z0-9-]*[a-z0-9]$/, 'lowercase letters, digits and dashes');
/** An instant: date, time and a time offset (Z or ±hh:mm); the message says so, since a local time without offset is the usual mistake. */
export const IsoDateTime = z.iso.datetime({ offset: true, error: 'an ISO 8601 instant with a time offset (Z or ±hh:mm), e.g. 2026-11-26T09:00:00Z or 2026-11-26T10:00:00+01:00' });
export const IsoDate = z.iso.date();
/** Free text that people type; bounded so no event can be inflated. */
export const ShortText = z.string().trim().min(1).max(500);
export const Name = z.string().trim().min(1).max(200);

const base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, 'base64').max(700_000);

/**
 * A value encrypted with the person's data key (AES-256-GCM). Events carry only
 * this envelope, never the plain value: erasure destroys the key (crypto-shredding).
 */
export const Encrypted = z.object({
  alg: z.literal('A256GCM'),
  /** id of the data key: the person's key id */
  kid: z.string().min(1).max(100),
  iv: base64,
  ct: base64,
  tag: base64,
});
export type Encrypted = z.infer<typeof Encrypted>;

/** Who caused an event. */
export const Actor = z.object({
  id: z.string().min(1).max(200),
  role: ActorRole,
  teamRole: TeamRole.optional(),
  partnerId: Slug.optional(),
});
export type Actor = z.infer<typeof Actor>;
