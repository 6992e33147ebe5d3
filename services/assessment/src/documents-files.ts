import { OneStopError, RuleViolation, type DocumentContentType } from '@onestop/events';

// What an uploaded file is and what it may be called: pure, no I/O.
// The type is the one the client declares AND the one the bytes show: a file
// whose first bytes do not match its declared type is refused (a PNG sent as
// a PDF, an executable sent as text), and so is a type outside the allow-list.
// File names are refused, not rewritten, when they carry path tricks or
// control characters: a silently changed name hides what the client sent.

type ContentType = (typeof DocumentContentType.options)[number];

const startsWith = (b: Buffer, magic: readonly number[], at = 0) => b.length >= at + magic.length && magic.every((x, i) => b[at + i] === x);
const ascii = (s: string) => [...s].map((c) => c.charCodeAt(0));
const ZIP = [0x50, 0x4b, 0x03, 0x04];
const PDF = ascii('%PDF-');
const PNG = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const JPEG = [0xff, 0xd8, 0xff];
const ODT_MIMETYPE = 'mimetypeapplication/vnd.oasis.opendocument.text';

/** Whether a buffer is UTF-8 text: valid UTF-8, no NUL, no other C0 control than tab, newline, carriage return, form feed. */
function isText(b: Buffer): boolean {
  try {
    const s = new TextDecoder('utf-8', { fatal: true }).decode(b);
    // eslint-disable-next-line no-control-regex
    return !/[\u0000-\u0008\u000b\u000e-\u001f\u007f]/.test(s);
  } catch {
    return false;
  }
}

/** Whether the bytes are what `type` says. */
export function bytesMatch(type: ContentType, b: Buffer): boolean {
  switch (type) {
    case 'application/pdf':
      return startsWith(b, PDF);
    case 'image/png':
      return startsWith(b, PNG);
    case 'image/jpeg':
      return startsWith(b, JPEG);
    case 'text/plain':
      // text is what no binary signature claims
      return !startsWith(b, PDF) && !startsWith(b, PNG) && !startsWith(b, JPEG) && !startsWith(b, ZIP) && isText(b);
    case 'application/vnd.oasis.opendocument.text':
      // an ODF package stores its media type uncompressed as the first entry (offset 30 of the zip)
      return startsWith(b, ZIP) && b.subarray(30, 30 + ODT_MIMETYPE.length).toString('latin1') === ODT_MIMETYPE;
    case 'application/vnd.openxmlformats-officedocument.wordprocessingml.document':
      // an OOXML package names [Content_Types].xml and the word/ part in its zip directory
      return startsWith(b, ZIP) && b.includes('[Content_Types].xml') && b.includes('word/');
  }
}

export class UnsupportedDocumentType extends OneStopError {
  constructor(allowed: readonly string[]) {
    super('unsupported_media_type', `documents may be ${allowed.join(', ')}`, 415, { allowed });
  }
}

export class DocumentTypeMismatch extends RuleViolation {
  constructor(declared: string) {
    super('content_type_mismatch', `the file's bytes are not ${declared}, the type it was sent as`, { declared });
  }
}

export class UnsafeFileName extends RuleViolation {
  constructor(why: string) {
    super('unsafe_file_name', `the file name was refused: ${why}`, { why });
  }
}

/** Longest file name kept (characters); longer ones are refused. */
export const MAX_FILE_NAME = 200;

/**
 * The file name as sent in X-File-Name (percent-encoded UTF-8), checked:
 * refused when it does not decode, is empty or too long, contains a path
 * (`/`, `\`, `..` or a leading dot), NUL or another control character, or a
 * Unicode direction override (which makes "gpj.exe" read as "exe.jpg").
 */
export function checkedFileName(header: string | undefined): string {
  if (header === undefined || header === '') throw new UnsafeFileName('missing: send it in X-File-Name, percent-encoded UTF-8');
  let name: string;
  try {
    name = decodeURIComponent(header);
  } catch {
    throw new UnsafeFileName('not percent-encoded UTF-8');
  }
  name = name.normalize('NFC');
  if (name.trim() === '') throw new UnsafeFileName('empty');
  if ([...name].length > MAX_FILE_NAME) throw new UnsafeFileName(`longer than ${MAX_FILE_NAME} characters`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f]/.test(name)) throw new UnsafeFileName('control characters (NUL, newline, …)');
  if (/[\u202a-\u202e\u2066-\u2069\u200e\u200f]/.test(name)) throw new UnsafeFileName('Unicode direction controls');
  if (/[/\\]/.test(name) || name.startsWith('.') || name.includes('..')) throw new UnsafeFileName('a path (/, \\, .. or a leading dot): send the name only');
  return name;
}

/**
 * Content-Disposition of a download: always an attachment (never rendered
 * inline by the browser), with an ASCII fallback name in which anything but
 * letters, digits, dot, dash, underscore and space becomes `_`, and the real
 * name in RFC 5987 `filename*`.
 */
export function contentDisposition(name: string): string {
  const fallback = name.replace(/[^A-Za-z0-9._\- ]/g, '_');
  const encoded = encodeURIComponent(name).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `attachment; filename="${fallback}"; filename*=UTF-8''${encoded}`;
}
