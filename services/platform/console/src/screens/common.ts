import { api } from '../api';

// Shapes of the API's answers the screens read (only the fields they use).

export interface PersonView {
  personId: string;
  status: 'registered' | 'erased';
  accessPoint: string;
  municipality: string;
  birthYear: number;
  registeredAt: string;
  personalData: { givenName: string; familyName: string; birthDate: string; fiscalCode?: string; phone?: string; email?: string; address?: string } | null;
  consents: { assessment: { active: boolean; eventId: string | null }; referral_sharing: { active: boolean; eventId: string | null } };
}

export interface CaseOverview {
  personId: string;
  person: { accessPoint: string; municipality: string; birthYear: number; registeredAt: string; status: string; consents: { assessment: boolean; referral_sharing: boolean } } | null;
  assessments: number;
  assessmentsCompleted: number;
  referrals: number;
  openReferrals: number;
  overdueReferrals: number;
}

export interface Referral {
  referralId: string;
  personId: string;
  assessmentId: string | null;
  partnerId: string;
  serviceId: string;
  domain: string | null;
  priority: string | null;
  status: string;
  statusReason: string | null;
  respondBy: string | null;
  overdue: boolean;
  referredAt: string | null;
  updatedAt: string;
}

export interface Partner {
  partnerId: string;
  name: string;
  sector: string;
  services: Array<{ serviceId: string; name: string; domain: string; capacity: number; occupied: number; free: number; overbooked: boolean }>;
  agreements: Record<string, { responseDays: number }>;
}

export interface Assessment {
  assessmentId: string;
  personId: string;
  status: 'open' | 'completed' | 'cancelled';
  team: Array<{ memberId: string; role: string }>;
  evaluations: Array<{ domain: string; needLevel: number; notes: string | null; evaluatedBy: string; evaluatedAt: string }>;
  needProfile: Record<string, number> | null;
  priorityDomains: string[] | null;
  goals: Array<{ goalId: string; domain: string; description: string | null; targetDate: string }>;
  completedAt: string | null;
}

export const DOMAINS = ['economic', 'employment', 'education', 'housing', 'social_network', 'health_care', 'training'] as const;
export const LEGAL_BASES = ['explicit_consent', 'public_interest', 'legal_obligation', 'vital_interests', 'social_protection_law'] as const;
export const DECLINE_REASONS = ['no_capacity', 'not_eligible', 'unable_to_contact', 'other'] as const;
export const OUTCOMES = ['achieved', 'partially_achieved', 'not_achieved', 'dropped_out'] as const;
export const TEAM_ROLES = ['social_worker', 'employment_operator', 'educator', 'tutor', 'network_manager'] as const;

/** "Given Family", or null when the role may not read names or the data is erased. */
export const fullName = (p: PersonView | undefined): string | null => (p?.personalData ? `${p.personalData.givenName} ${p.personalData.familyName}` : null);

/** The names of the people in a list (their own reads; cached for the page's life). */
const names = new Map<string, Promise<PersonView | undefined>>();
export function person(personId: string): Promise<PersonView | undefined> {
  let p = names.get(personId);
  if (!p) {
    p = api<PersonView>('GET', `/persons/${personId}`).catch(() => undefined);
    names.set(personId, p);
  }
  return p;
}
export const forgetPerson = (personId: string) => names.delete(personId);

/** Recent registrations with their names (the operator's and the team's lists). */
export async function recentPeople(limit: number, afterPos?: number): Promise<Array<{ overview: CaseOverview; person: PersonView | undefined }>> {
  const cases = await api<CaseOverview[]>('GET', `/api/cases?limit=${limit}${afterPos ? `&after=${afterPos}` : ''}`);
  return Promise.all(cases.map(async (overview) => ({ overview, person: await person(overview.personId) })));
}
