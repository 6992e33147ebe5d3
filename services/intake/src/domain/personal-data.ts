import { z } from 'zod';
import { IsoDate, Name } from '@onestop/events';

/** Contact details a person may change at any time. */
export const ContactDetails = z.object({
  phone: z
    .string()
    .trim()
    .regex(/^\+?[0-9][0-9 ()./-]{4,24}$/, 'a phone number')
    .optional(),
  email: z.email().max(200).optional(),
  address: z.string().trim().min(3).max(300).optional(),
});
export type ContactDetails = z.infer<typeof ContactDetails>;

/** The personal data taken at registration; it only ever leaves intake encrypted. */
export const PersonalData = ContactDetails.extend({
  givenName: Name,
  familyName: Name,
  birthDate: IsoDate.refine((d) => d >= '1900-01-01', 'after 1900'),
  fiscalCode: z.string().trim().min(1).max(32).optional(),
});
export type PersonalData = z.infer<typeof PersonalData>;
