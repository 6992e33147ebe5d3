import { describe, it } from 'vitest';
import { NotFoundError } from '@onestop/events';
import { deciderSpec } from '@onestop/testkit';
import {
  AlreadyInAgreement,
  DuplicateService,
  PartnerAlreadyRegistered,
  ServiceNotOffered,
  partnerDecider,
  type PartnerEvent,
  type RegisterPartner,
} from '../src/domain/partner.js';

const spec = deciderSpec(partnerDecider);
const register: RegisterPartner = {
  type: 'RegisterPartner',
  partnerId: 'centro-impiego',
  name: 'Centro per l’impiego di Pistoia',
  sector: 'public',
  services: [{ serviceId: 'job-coaching', name: 'Orientamento al lavoro', domain: 'employment', capacity: 20 }],
};
const registered: PartnerEvent = { type: 'PartnerRegistered', data: { partnerId: register.partnerId, name: register.name, sector: 'public', services: register.services } };
const joined: PartnerEvent = { type: 'PartnerJoinedAgreement', data: { agreementId: 'accordo-pistoia', responseDays: 7 } };

describe('Partner: when not registered', () => {
  it('registers with its services', () => spec.given([]).when(register).then([registered]));
  it('refuses a service listed twice', () =>
    spec.given([]).when({ ...register, services: [...register.services, ...register.services] }).thenThrows(DuplicateService));
  it('refuses agreement and capacity changes', () => {
    spec.given([]).when({ type: 'JoinAgreement', agreementId: 'accordo-pistoia', responseDays: 7 }).thenThrows(NotFoundError);
    spec.given([]).when({ type: 'ChangeServiceCapacity', serviceId: 'job-coaching', capacity: 3 }).thenThrows(NotFoundError);
  });
});

describe('Partner: when registered', () => {
  it('refuses a second registration', () => spec.given([registered]).when(register).thenThrows(PartnerAlreadyRegistered));
  it('joins the network agreement with its response time', () =>
    spec.given([registered]).when({ type: 'JoinAgreement', agreementId: 'accordo-pistoia', responseDays: 7 }).then([joined]));
  it('leaving an agreement it is not in records nothing (the outcome holds)', () =>
    spec.given([registered]).when({ type: 'LeaveAgreement', agreementId: 'accordo-pistoia' }).thenNothing());
  it('changes the capacity of a service it offers', () =>
    spec.given([registered]).when({ type: 'ChangeServiceCapacity', serviceId: 'job-coaching', capacity: 25 }).then([{ type: 'ServiceCapacityChanged', data: { serviceId: 'job-coaching', capacity: 25 } }]));
  it('changing the capacity to the same value records nothing', () =>
    spec.given([registered]).when({ type: 'ChangeServiceCapacity', serviceId: 'job-coaching', capacity: 20 }).thenNothing());
  it('refuses the capacity of a service it does not offer', () =>
    spec.given([registered]).when({ type: 'ChangeServiceCapacity', serviceId: 'legal', capacity: 1 }).thenThrows(ServiceNotOffered));
});

describe('Partner: when in the agreement', () => {
  it('joining again on the same terms records nothing', () =>
    spec.given([registered, joined]).when({ type: 'JoinAgreement', agreementId: 'accordo-pistoia', responseDays: 7 }).thenNothing());
  it('joining again on other terms is refused: it is not how terms change', () =>
    spec.given([registered, joined]).when({ type: 'JoinAgreement', agreementId: 'accordo-pistoia', responseDays: 3 }).thenThrows(AlreadyInAgreement));
  it('leaves it', () => spec.given([registered, joined]).when({ type: 'LeaveAgreement', agreementId: 'accordo-pistoia' }).then([{ type: 'PartnerLeftAgreement', data: { agreementId: 'accordo-pistoia' } }]));
  it('after leaving, can join again', () =>
    spec
      .given([registered, joined, { type: 'PartnerLeftAgreement', data: { agreementId: 'accordo-pistoia' } }])
      .when({ type: 'JoinAgreement', agreementId: 'accordo-pistoia', responseDays: 10 })
      .then([{ type: 'PartnerJoinedAgreement', data: { agreementId: 'accordo-pistoia', responseDays: 10 } }]));
});
