import type { FastifyInstance } from 'fastify';

// The `type` of every problem+json answer is `/problems/<code>` (a URI
// reference resolved against the answering server, RFC 9457 §3.1.1), and every
// service serves that page: what the code means and what the caller can do.
// A test finds every code the source raises and checks it has a page here.

/** code → what it means and what to do. */
export const PROBLEM_TYPES: Record<string, string> = {
  // requests
  validation_failed: 'The request does not have the required shape: `issues` lists each field and what is wrong with it. Fix the request; sending it again unchanged will fail the same way.',
  bad_request: 'The request could not be understood. Check the method, URL, headers and body against the OpenAPI document (/openapi.json).',
  bad_url: 'The request URL is not valid (e.g. a percent-encoding that does not decode). Encode the path and query correctly.',
  uri_too_long: 'A path parameter is longer than allowed. Identifiers are UUIDs or short slugs.',
  invalid_json: 'The body is not valid JSON.',
  empty_body: 'The request declares a JSON body but sends none.',
  body_too_large: 'The body is larger than the server accepts (BODY_LIMIT_BYTES).',
  invalid_content_length: 'The Content-Length header does not match the body.',
  unsupported_media_type: 'The body must be application/json.',
  route_not_found: 'No route has this method and path. See /docs for the routes of this server.',
  body_not_allowed: 'This route takes no body: send the request without one (a GET, or a command whose only input is its path).',
  not_supported: 'This deployment does not offer that (e.g. the verifiable log on the KurrentDB store, or a FHIR interaction the CapabilityStatement does not list).',
  dev_sign_in_disabled: 'The console\'s development sign-in is off: in production, or where tokens come from an identity provider (JWT_JWKS_URL). Sign in with the identity provider.',
  cosignature_malformed: 'The cosignature is not a signed-note signature line ("— <witness name> <base64>"). Send the line the witness printed.',
  cosignature_invalid: 'The cosignature does not verify with any configured witness key (ONESTOP_WITNESSES) for that checkpoint. Check the witness name, key and the checkpoint it signed.',
  not_in_checkpoint: 'The event is not covered by that checkpoint yet: ask for a later checkpoint, or for the receipt again once the tree has grown.',
  sizes_out_of_order: 'A consistency proof goes from a smaller tree to a larger (or equal) one: swap `from` and `to`.',
  subscription_exists: 'A Subscription of this partner to the same endpoint and criteria exists already: use it, or end it first.',
  subscription_ended: 'The Subscription has ended: no notification will be sent. Register a new one.',
  rate_limited: 'Too many requests with this token (or from this address) in the last minute. Wait for the seconds in Retry-After.',
  idempotency_key_reused: 'This Idempotency-Key was used before with another request body. Use a new key for a new request.',
  request_already_recorded: 'A retry (same Idempotency-Key) of a request that was recorded before, whose first answer was lost, and that today\'s state would refuse: it was applied once and is not applied again.',
  response_id_reused: 'A partner answer reused a responseId with other content. Each answer needs its own id.',
  // who may do what
  unauthorized: 'No valid bearer token: missing, malformed, expired, signed by another issuer, or living longer than the server accepts (JWT_MAX_LIFETIME_SECONDS). Get a new token.',
  token_revoked: 'The token verifies, but an admin revoked it (by its `jti`, or every token of its subject issued before an instant): get a new token from the identity provider.',
  revocations_unavailable: 'The list of revoked tokens cannot be read right now (the database is not reachable), so no token is accepted. Try again shortly.',
  forbidden: 'The token\'s role may not do this. The authorisation matrix is in SECURITY.md.',
  not_a_team_member: 'Only the members of an assessment\'s team act on it: a member\'s memberId is the `sub` of their token.',
  no_open_referral: 'A partner sees a person\'s contact details only while it has an open referral of that person, under an active referral_sharing consent.',
  not_found: 'There is no such resource — or it belongs to someone the caller may not see: a partner asking for another partner\'s referral gets this same answer, so that existence is not revealed.',
  // concurrency and views
  wrong_expected_version: 'The stream changed between reading and writing (another request acted first). Read again and retry.',
  concurrency_retries_exhausted: 'The stream kept changing under several attempts. Try again shortly.',
  position_not_reached: 'The view has not yet applied the position asked for with `after`. Ask again after the seconds in Retry-After.',
  not_ready: 'The server is starting or its dependencies are not reachable yet.',
  rebuild_running: 'The read models are being rebuilt; another rebuild waits until it ends.',
  // intake
  fiscal_code_invalid: 'The fiscal code is not valid: `fiscalCodeError` says which part (format, month, day, omocodia, check character, or a birth date it does not encode).',
  fiscal_code_mismatch: 'The fiscal code does not agree with the person (`check`: `names` — its letters are not those of the surname and name given; `place` — its place code is neither an Italian municipality nor a foreign state). For a real exception register with `fiscalCodeOverride` and its reason; the event records it.',
  birth_date_implausible: 'The birth date is in the future or more than 120 years back.',
  duplicate_fiscal_code: 'A person with this fiscal code is registered already: `existingPersonId` names them. Use that person.',
  person_already_registered: 'This person id is registered already.',
  personal_data_erased: 'The person\'s personal data was erased: nothing more can be recorded or read for them.',
  // assessment
  assessment_consent_missing: 'An assessment needs the person\'s active `assessment` consent.',
  assessment_already_open: 'The person has an open assessment already: one at a time.',
  assessment_already_started: 'This assessment was started already.',
  assessment_not_open: 'The assessment is completed or cancelled: it takes no more evaluations (completing a completed one, or cancelling a cancelled one, is a repeat: 200 with `recorded: false`).',
  team_not_multidisciplinary: 'A team needs at least two members with two distinct roles.',
  duplicate_team_member: 'A member is listed more than once in the team.',
  domains_missing: 'Completion needs all seven domains evaluated.',
  goal_missing_for_priority_domain: 'Every priority domain (need level 3 or more) needs at least one goal.',
  goal_for_domain_without_need: 'A goal names a domain whose need level is 0.',
  goal_target_date_not_in_future: 'A goal\'s target date must be after today.',
  // taking charge (docs/casework.md)
  case_not_open: 'The person has no open case (none yet, or it is closed): open the case, or reopen it, first.',
  case_closed: 'The case was closed: reopen it (POST /persons/{id}/case/reopening) instead of opening it again.',
  case_not_closed: 'The case is open and was never closed: there is nothing to reopen.',
  activation_in_future: 'The activation date is the date of a pact already made: it cannot be after today.',
  note_required: 'Closing a case for reason `other` needs a note saying why (it is kept encrypted).',
  assessment_not_completed: 'A plan is built from a completed assessment of the same person.',
  goal_without_owner: 'Every goal of the assessment needs an owner in the plan: a team member or a partner\'s service.',
  unknown_goal: 'A goal named is not in the plan (or in the assessment): a new goal is sent without goalId and with a description.',
  duplicate_goal: 'A goal appears more than once in the plan: list each goal once.',
  description_required: 'A new goal (one without goalId) needs a description.',
  review_date_not_in_future: 'The plan\'s review date must be after today.',
  plan_not_agreed: 'The person has no plan yet: agree one from the completed assessment first (POST /persons/{id}/plan).',
  plan_without_goals: 'A plan has at least one goal: the assessment has none, so add one.',
  first_meeting_pending: 'A first meeting is already scheduled: reschedule it, or record it as held or missed, before scheduling another.',
  meeting_closed: 'The meeting was held or missed: it changes no more. Schedule a new one.',
  held_in_future: 'A meeting is recorded as held once it has taken place: `heldAt` is after now.',
  meeting_not_due: 'A meeting is recorded as missed only once its time has passed.',
  referral_required: 'A `shared` note names the open referral whose partner may read it; a `team` note names none.',
  referral_not_open: 'The referral is not an open referral of this person (declined, completed, cancelled, or another person\'s): its partner may not read the person\'s notes.',
  // directory and referrals
  partner_already_registered: 'A partner with this id is registered already.',
  duplicate_service: 'A service id appears twice in the partner\'s services.',
  already_in_agreement: 'The partner is in the network agreement already, on other terms: joining again does not change them (leave and join again). Joining on the same terms is a repeat: 200 with `recorded: false`.',
  service_not_offered: 'The partner does not offer this service (or not for this domain).',
  no_free_capacity: 'The service has no free places now.',
  referral_not_declined: 'Only a declined referral can be re-referred to another partner: this one is still open, or ended otherwise.',
  referral_already_replaced: 'This declined referral was re-referred already: the answer names the referral that replaces it.',
  content_type_mismatch: 'The file\'s bytes are not of the type its Content-Type declares: send it with its real type (PDF, PNG, JPEG, UTF-8 text, ODT or DOCX).',
  unsafe_file_name: 'The file name is refused: no path, no `..`, no leading dot, no control or direction characters, at most 200 characters. Rename the file and send it again.',
  referral_consent_missing: 'A referral needs the person\'s active `referral_sharing` consent and a completed assessment with a need in the referral\'s domain. Consents reach the referral service through the bus a moment later: retry shortly after giving one.',
  referral_already_open: 'The person has an open referral for this service already.',
  referral_exists: 'A referral with this id exists already.',
  expires_at_past: 'The revocation\'s expiresAt is in the past: a token that expired then is refused anyway. Give the token\'s real `exp`, or leave expiresAt out.',
  done_otherwise: 'This action was done already, with other data (another outcome, reason, date or goals): the first one stands and nothing was recorded. `stands` shows what was recorded. The same data again is a plain repeat: 200 with `recorded: false`.',
  transition_refused: 'The referral\'s status does not allow this step (e.g. starting a referral that was not accepted, or accepting one that was declined). `from` says where it is. A step the referral took already is not refused: it answers 200 with `recorded: false`.',
  // operations
  already_redriven: 'This dead letter was re-driven already.',
  not_redrivable: 'This dead letter cannot be re-driven (its consumer group is unknown).',
  empty_log: 'The event log is empty: nothing to sign.',
  invalid_event: 'An event breaks its catalog schema on its way into the log: a defect of the server, nothing was stored.',
  internal_error: 'The server could not complete the request. Nothing internal is said here; the request id finds it in the logs.',
  invalid_configuration: 'A configuration variable is missing or invalid (start-up only).',
  port_in_use: 'The port the server should listen on is in use (start-up only): stop the other process or set PORT.',
  port_not_allowed: 'The port is not allowed to this user (start-up only): set PORT above 1023.',
  data_dir_in_use: 'The embedded database is open in another process: one process at a time.',
  clock_out_of_range: 'The development clock may run at most 10 years from the system clock.',
};

const escape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Serves `/problems/<code>`: a short human page per problem type (HTML, or JSON when asked). */
export function registerProblemTypes(app: FastifyInstance): void {
  app.get<{ Params: { code: string } }>('/problems/:code', { schema: { hide: true } }, async (req, reply) => {
    const { code } = req.params;
    const text = Object.hasOwn(PROBLEM_TYPES, code) ? PROBLEM_TYPES[code] : undefined;
    if (!text) return reply.callNotFound();
    if (req.headers.accept?.includes('application/json')) return { code, explanation: text };
    return reply
      .type('text/html; charset=utf-8')
      .send(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${code}</title></head><body><h1>${code}</h1><p>${escape(text)}</p><p>Answers with this problem type carry <code>code: "${code}"</code>; see the OneStop README, "APIs and roles".</p></body></html>`);
  });
}
