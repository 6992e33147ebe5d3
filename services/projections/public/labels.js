// Italian labels for the codes the APIs return. A code without a label is
// shown as it is, so a value added later is never hidden.

export const DOMAINS = {
  economic: 'Economico',
  employment: 'Lavoro',
  education: 'Istruzione',
  housing: 'Casa',
  social_network: 'Rete familiare e sociale',
  health_care: 'Salute e cura',
  training: 'Formazione',
};

export const DECLINE_REASONS = {
  no_capacity: 'posti esauriti',
  not_eligible: 'requisiti non soddisfatti',
  unable_to_contact: 'persona non raggiungibile',
  other: 'altro motivo',
};

export const OUTCOMES = {
  achieved: 'obiettivo raggiunto',
  partially_achieved: 'raggiunto in parte',
  not_achieved: 'non raggiunto',
  dropped_out: 'percorso interrotto',
};

export const CANCEL_REASONS = {
  team_decision: 'decisione dell’équipe',
  person_request: 'richiesta della persona',
  person_moved_away: 'trasferimento della persona',
  started_in_error: 'avviata per errore',
  consent_withdrawn: 'consenso revocato',
  personal_data_erased: 'dati personali cancellati',
  partner_left_agreement: 'il partner ha lasciato l’accordo',
};

export const ERASURE_REASONS = {
  data_subject_request: 'richiesta dell’interessato',
  retention_expired: 'fine del periodo di conservazione',
  unlawful_processing: 'trattamento illecito',
  other: 'altro motivo',
};

export const STATUSES = {
  requested: 'in attesa di risposta',
  accepted: 'accettato',
  rejected: 'rifiutato',
  'in-progress': 'in corso',
  completed: 'concluso',
  cancelled: 'annullato',
};

export const PRIORITIES = { routine: 'ordinaria', urgent: 'urgente', asap: 'appena possibile' };

export const SECTORS = { public: 'pubblico', third_sector: 'Terzo Settore' };

export const ROLES = {
  operator: 'operatore del punto di accesso',
  team: 'équipe multidisciplinare',
  partner: 'partner',
  auditor: 'revisore',
  admin: 'amministratore',
  system: 'sistema',
};

export const TEAM_ROLES = {
  employment_operator: 'operatore del Centro per l’impiego',
  social_worker: 'assistente sociale',
  educator: 'educatore',
  tutor: 'tutor',
  network_manager: 'network manager',
};

export const CONSENT_SCOPES = { assessment: 'valutazione', referral_sharing: 'condivisione con i partner' };

export const LEGAL_BASES = {
  explicit_consent: 'consenso esplicito',
  public_interest: 'interesse pubblico',
  legal_obligation: 'obbligo di legge',
  vital_interests: 'interessi vitali',
  social_protection_law: 'norme di protezione sociale',
};

export const READ_PURPOSES = {
  audit: 'revisione',
  as_of_replay: 'ricostruzione a una data',
  export: 'esportazione',
  subject_access: 'accesso dell’interessato',
  contact_details: 'recapiti comunicati a un partner',
  case_view: 'dati anagrafici consultati',
  assessment_view: 'note della valutazione consultate',
};

export const EVENT_TYPES = {
  PersonRegistered: 'Persona registrata',
  ConsentGiven: 'Consenso acquisito',
  ConsentWithdrawn: 'Consenso revocato',
  ContactDetailsUpdated: 'Recapiti aggiornati',
  PersonalDataErased: 'Dati personali cancellati',
  AssessmentStarted: 'Valutazione avviata',
  DomainEvaluated: 'Dominio valutato',
  AssessmentCompleted: 'Valutazione completata',
  AssessmentCancelled: 'Valutazione annullata',
  ReferredToPartner: 'Invio a un partner',
  ReferralAccepted: 'Invio accettato',
  ReferralDeclined: 'Invio rifiutato',
  ServiceStarted: 'Servizio avviato',
  ServiceCompleted: 'Servizio concluso',
  ReferralCancelled: 'Invio annullato',
  ReferralOverdue: 'Risposta in ritardo',
  CaseHistoryRead: 'Consultazione registrata',
  FiscalCodeReserved: 'Codice fiscale riservato alla persona',
  FiscalCodeReleased: 'Codice fiscale liberato',
  CaseAssessmentOpened: 'Valutazione aperta nel caso',
  CaseAssessmentClosed: 'Valutazione chiusa nel caso',
  CaseReferralOpened: 'Invio aperto nel caso',
  CaseReferralClosed: 'Invio chiuso nel caso',
  PlaceTaken: 'Posto occupato',
  PlaceReleased: 'Posto liberato',
  SubscriptionRequested: 'Sottoscrizione FHIR richiesta',
  SubscriptionActivated: 'Sottoscrizione FHIR attiva',
  SubscriptionErrored: 'Sottoscrizione FHIR in errore',
  SubscriptionEnded: 'Sottoscrizione FHIR chiusa',
  TokenRevoked: 'Token revocato',
  SubjectTokensRevoked: 'Token di un utente revocati',
};

export const STREAM_CATEGORIES = {
  person: 'persona',
  assessment: 'valutazione',
  referral: 'invio',
  audit: 'registro delle consultazioni',
  partner: 'partner',
  case: 'caso',
  fiscalcode: 'codice fiscale',
  places: 'posti del servizio',
  subscription: 'sottoscrizione FHIR',
  revocation: 'revoche dei token',
};

export const VERIFY_REASONS = {
  hash_mismatch: 'un evento non corrisponde al suo hash',
  prev_hash_mismatch: 'l’anello con l’evento precedente non corrisponde',
  position_gap: 'manca un evento nella sequenza',
};

/** The label of a code, or the code itself. */
export const label = (table, code) => (code != null && Object.hasOwn(table, code) ? table[code] : String(code ?? '—'));
