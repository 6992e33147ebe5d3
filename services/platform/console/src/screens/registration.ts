// The registration form's rules that need no page: kept free of imports, so
// that they are tested in Node (services/platform/test/console-draft.test.ts).

/**
 * What of the draft the server checks for likely duplicates: the fiscal code
 * once it is valid; the birth date once complete, with each name of two
 * letters or more (one letter is a name still being typed); undefined until
 * there is enough. Only these travel: contact details stay in the form.
 */
export function duplicateDraft(f: { givenName: string; familyName: string; birthDate: string }, validFiscalCode: string | undefined): Record<string, string> | undefined {
  const draft: Record<string, string> = {};
  if (validFiscalCode) draft['fiscalCode'] = validFiscalCode;
  const names = (['givenName', 'familyName'] as const).filter((k) => f[k].trim().length >= 2);
  if (/^\d{4}-\d{2}-\d{2}$/.test(f.birthDate) && names.length > 0) {
    draft['birthDate'] = f.birthDate;
    for (const k of names) draft[k] = f[k].trim();
  }
  return Object.keys(draft).length > 0 ? draft : undefined;
}
