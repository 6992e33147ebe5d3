import { describe, expect, it } from 'vitest';
import { duplicateDraft } from '../console/src/screens/registration.js';

// When the Register screen asks the server for likely duplicates, and with
// what: only the fields duplicates are found by, once there is enough of them.

const empty = { givenName: '', familyName: '', birthDate: '' };

describe('the draft checked for likely duplicates', () => {
  it('given too little typed, then nothing is asked', () => {
    expect(duplicateDraft(empty, undefined)).toBeUndefined();
    expect(duplicateDraft({ ...empty, givenName: 'Benedetta', familyName: 'Lucchesini' }, undefined), 'names without a birth date').toBeUndefined();
    expect(duplicateDraft({ ...empty, birthDate: '1973-05-21' }, undefined), 'a birth date without a name').toBeUndefined();
    expect(duplicateDraft({ givenName: 'B', familyName: ' ', birthDate: '1973-05-21' }, undefined), 'a name still being typed').toBeUndefined();
    expect(duplicateDraft({ ...empty, givenName: 'Benedetta', birthDate: '1973-05' }, undefined), 'a birth date still being typed').toBeUndefined();
  });

  it('given a birth date and a name, then those are asked, trimmed', () => {
    expect(duplicateDraft({ givenName: ' Benedetta ', familyName: 'L', birthDate: '1973-05-21' }, undefined)).toEqual({ givenName: 'Benedetta', birthDate: '1973-05-21' });
    expect(duplicateDraft({ givenName: 'Benedetta', familyName: 'Lucchesini', birthDate: '1973-05-21' }, undefined)).toEqual({ givenName: 'Benedetta', familyName: 'Lucchesini', birthDate: '1973-05-21' });
  });

  it('given a valid fiscal code, then it is asked alone or with the rest', () => {
    expect(duplicateDraft(empty, 'LCCBDT73E61G713A')).toEqual({ fiscalCode: 'LCCBDT73E61G713A' });
    expect(duplicateDraft({ givenName: 'Benedetta', familyName: '', birthDate: '1973-05-21' }, 'LCCBDT73E61G713A')).toEqual({ fiscalCode: 'LCCBDT73E61G713A', givenName: 'Benedetta', birthDate: '1973-05-21' });
  });
});
