import { ConflictError, NotFoundError, RuleViolation, type LifeDomain } from '@onestop/events';
import type { Decider, DomainEvent } from '@onestop/kit';

// The Partner aggregate (stream partner-<partnerId>), DESIGN §4 "Directory":
// a public or Third-Sector organisation, the services it offers with their
// capacity, and its membership of network agreements with their response time.

export type PartnerEvent = DomainEvent<'PartnerRegistered' | 'PartnerJoinedAgreement' | 'PartnerLeftAgreement' | 'ServiceCapacityChanged'>;

export interface PartnerService {
  serviceId: string;
  name: string;
  domain: LifeDomain;
  capacity: number;
}

export interface PartnerState {
  partnerId: string | null;
  name: string;
  sector: 'public' | 'third_sector' | null;
  services: Record<string, PartnerService>;
  /** agreementId → days the partner has to answer a referral */
  agreements: Record<string, { responseDays: number }>;
}

export const initialPartnerState: PartnerState = { partnerId: null, name: '', sector: null, services: {}, agreements: {} };

export interface RegisterPartner {
  type: 'RegisterPartner';
  partnerId: string;
  name: string;
  sector: 'public' | 'third_sector';
  services: PartnerService[];
}
export interface JoinAgreement {
  type: 'JoinAgreement';
  agreementId: string;
  responseDays: number;
}
export interface LeaveAgreement {
  type: 'LeaveAgreement';
  agreementId: string;
}
export interface ChangeServiceCapacity {
  type: 'ChangeServiceCapacity';
  serviceId: string;
  capacity: number;
}
export type PartnerCommand = RegisterPartner | JoinAgreement | LeaveAgreement | ChangeServiceCapacity;

export class PartnerAlreadyRegistered extends ConflictError {
  constructor(partnerId: string) {
    super('partner_already_registered', `partner ${partnerId} is already registered`, { partnerId });
  }
}
export class DuplicateService extends RuleViolation {
  constructor(serviceId: string) {
    super('duplicate_service', `service ${serviceId} is listed twice`, { serviceId });
  }
}
export class AlreadyInAgreement extends ConflictError {
  constructor(agreementId: string) {
    super('already_in_agreement', `the partner is already in agreement ${agreementId}`, { agreementId });
  }
}
export class ServiceNotOffered extends RuleViolation {
  constructor(serviceId: string) {
    super('service_not_offered', `the partner does not offer service ${serviceId}`, { serviceId });
  }
}

function register(c: RegisterPartner, s: PartnerState): PartnerEvent[] {
  if (s.partnerId) throw new PartnerAlreadyRegistered(c.partnerId);
  const seen = new Set<string>();
  for (const svc of c.services) {
    if (seen.has(svc.serviceId)) throw new DuplicateService(svc.serviceId);
    seen.add(svc.serviceId);
  }
  return [{ type: 'PartnerRegistered', data: { partnerId: c.partnerId, name: c.name, sector: c.sector, services: c.services } }];
}

function mustExist(s: PartnerState): void {
  if (!s.partnerId) throw new NotFoundError('partner', '?');
}

function join(c: JoinAgreement, s: PartnerState): PartnerEvent[] {
  mustExist(s);
  const current = s.agreements[c.agreementId];
  // the same terms again is a repeat (nothing recorded); other terms are not a way to change them
  if (current?.responseDays === c.responseDays) return [];
  if (current) throw new AlreadyInAgreement(c.agreementId);
  return [{ type: 'PartnerJoinedAgreement', data: { agreementId: c.agreementId, responseDays: c.responseDays } }];
}

function leave(c: LeaveAgreement, s: PartnerState): PartnerEvent[] {
  mustExist(s);
  // the outcome holds already: a repeat records nothing
  if (!s.agreements[c.agreementId]) return [];
  return [{ type: 'PartnerLeftAgreement', data: { agreementId: c.agreementId } }];
}

function changeCapacity(c: ChangeServiceCapacity, s: PartnerState): PartnerEvent[] {
  mustExist(s);
  const svc = s.services[c.serviceId];
  if (!svc) throw new ServiceNotOffered(c.serviceId);
  if (svc.capacity === c.capacity) return [];
  return [{ type: 'ServiceCapacityChanged', data: { serviceId: c.serviceId, capacity: c.capacity } }];
}

export function decide(c: PartnerCommand, s: PartnerState): PartnerEvent[] {
  switch (c.type) {
    case 'RegisterPartner':
      return register(c, s);
    case 'JoinAgreement':
      return join(c, s);
    case 'LeaveAgreement':
      return leave(c, s);
    case 'ChangeServiceCapacity':
      return changeCapacity(c, s);
    default: {
      const unknown: never = c;
      throw new Error(`unknown command ${JSON.stringify(unknown)}`);
    }
  }
}

export function evolve(s: PartnerState, e: PartnerEvent): PartnerState {
  switch (e.type) {
    case 'PartnerRegistered':
      return {
        partnerId: e.data.partnerId,
        name: e.data.name,
        sector: e.data.sector,
        services: Object.fromEntries(e.data.services.map((x) => [x.serviceId, x])),
        agreements: {},
      };
    case 'PartnerJoinedAgreement':
      return { ...s, agreements: { ...s.agreements, [e.data.agreementId]: { responseDays: e.data.responseDays } } };
    case 'PartnerLeftAgreement': {
      const { [e.data.agreementId]: _left, ...rest } = s.agreements;
      return { ...s, agreements: rest };
    }
    case 'ServiceCapacityChanged': {
      const svc = s.services[e.data.serviceId];
      return svc ? { ...s, services: { ...s.services, [svc.serviceId]: { ...svc, capacity: e.data.capacity } } } : s;
    }
    default: {
      const unknown: never = e;
      return unknown;
    }
  }
}

export const partnerDecider: Decider<PartnerCommand, PartnerEvent, PartnerState> = { initialState: initialPartnerState, evolve, decide };
export const partnerStream = (partnerId: string): string => `partner-${partnerId}`;
