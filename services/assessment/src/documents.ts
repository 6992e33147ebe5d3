import { createHash } from 'node:crypto';
import { createEvent, liftRecorded, NotFoundError, type DocumentContentType, type EventContext, type RawEnvelope, type RecordedEvent } from '@onestop/events';
import { applySchema } from '@onestop/eventstore';
import { newId, PersonDataErased, recordCaseHistoryRead, type CaseFactsView, type ServiceContext } from '@onestop/kit';

// Documents attached to a person's case (issue 14, part 5). The bytes are
// encrypted with the person's key (AES-256-GCM, bound to the document id) and
// kept in documents.documents, in the service's database (PostgreSQL, or
// PGlite in the embedded mode): never in the log, never in plaintext on disk.
// The log records DocumentAdded on stream document-<documentId> (the file name
// encrypted). An erasure shreds the person's key, so every copy of the
// ciphertext (backups, old row versions) stops opening, and deletes the rows.

const SCHEMA = `
CREATE SCHEMA IF NOT EXISTS documents;
CREATE TABLE IF NOT EXISTS documents.documents (
  document_id  uuid PRIMARY KEY,
  person_id    uuid NOT NULL,
  content_type text NOT NULL,
  size         integer NOT NULL,
  iv           bytea NOT NULL,
  tag          bytea NOT NULL,
  ciphertext   bytea NOT NULL,
  added_at     timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS documents_person ON documents.documents (person_id, added_at);
`;

type ContentType = (typeof DocumentContentType.options)[number];

export const documentStream = (documentId: string): string => `document-${documentId}`;

export interface DocumentInfo {
  documentId: string;
  contentType: string;
  size: number;
  addedAt: string;
}

export class Documents {
  constructor(
    private readonly ctx: ServiceContext,
    private readonly facts: CaseFactsView,
  ) {}

  async migrate(): Promise<void> {
    await applySchema(this.ctx.db, 7411120, SCHEMA);
  }

  /** Stores an uploaded file (already checked: type, bytes, name) for a person the service knows. */
  async add(personId: string, contentType: ContentType, bytes: Buffer, fileName: string, ec: EventContext): Promise<DocumentInfo & { position: number }> {
    const person = await this.facts.person(personId);
    if (!person) throw new NotFoundError('person', personId);
    if (person.erased) throw new PersonDataErased(personId);
    const documentId = newId();
    const sealed = await this.ctx.keyring.encryptBytes(personId, bytes, documentId);
    const name = await this.ctx.keyring.encrypt(personId, fileName);
    const addedAt = ec.time;
    // the blob first: an event never names bytes that are not stored; a blob whose event failed is removed
    await this.ctx.db.query(
      `INSERT INTO documents.documents (document_id, person_id, content_type, size, iv, tag, ciphertext, added_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
      [documentId, personId, contentType, bytes.length, sealed.iv, sealed.tag, sealed.ct, addedAt],
    );
    try {
      const event = createEvent(
        'DocumentAdded',
        {
          documentId,
          personId,
          contentType,
          size: bytes.length,
          ciphertextSha256: createHash('sha256').update(sealed.ct).digest('hex'),
          fileName: name,
          addedBy: ec.actor.id,
        },
        documentStream(documentId),
        personId,
        ec,
      );
      const r = await this.ctx.store.append(documentStream(documentId), [event as RawEnvelope], 'no_stream');
      return { documentId, contentType, size: bytes.length, addedAt, position: r.globalPositions[0]! };
    } catch (e) {
      await this.ctx.db.query('DELETE FROM documents.documents WHERE document_id = $1', [documentId]);
      throw e;
    }
  }

  /** A person's documents, without their names (a name is personal: it is shown on download, which is audited). */
  async list(personId: string): Promise<DocumentInfo[]> {
    const rows = await this.ctx.db.query<{ document_id: string; content_type: string; size: number; added_at: unknown }>(
      `SELECT document_id, content_type, size, added_at FROM documents.documents WHERE person_id = $1 ORDER BY added_at, document_id`,
      [personId],
    );
    return rows.map((r) => ({ documentId: r.document_id, contentType: r.content_type, size: Number(r.size), addedAt: new Date(r.added_at as string).toISOString() }));
  }

  /**
   * A document's bytes and name, decrypted, after recording the read (DESIGN
   * §6: a disclosure that could not be recorded is not made). 404 for a
   * document that never existed or was erased with its person.
   */
  async download(documentId: string, readBy: string, ec: EventContext): Promise<{ personId: string; contentType: string; fileName: string; bytes: Buffer }> {
    const added = (await this.ctx.store.readStream(documentStream(documentId))).map(liftRecorded).find((e): e is RecordedEvent<'DocumentAdded'> => e.type === 'DocumentAdded');
    const rows = await this.ctx.db.query<{ person_id: string; content_type: string; iv: Uint8Array; tag: Uint8Array; ciphertext: Uint8Array }>(
      'SELECT person_id, content_type, iv, tag, ciphertext FROM documents.documents WHERE document_id = $1',
      [documentId],
    );
    const row = rows[0];
    if (!added || !row || row.person_id !== added.data.personId) throw new NotFoundError('document', documentId);
    const ct = Buffer.from(row.ciphertext);
    if (createHash('sha256').update(ct).digest('hex') !== added.data.ciphertextSha256) throw new Error(`document ${documentId}: the stored ciphertext is not the one recorded`);
    // erased, and the rows not deleted yet (the service hears of it over the bus): gone already, and no read to record
    if (await this.ctx.keyring.isErased(row.person_id)) throw new NotFoundError('document', documentId);
    await recordCaseHistoryRead(this.ctx.store, { personId: row.person_id, purpose: 'document_download', readBy, documentId }, ec);
    const fileName = await this.ctx.keyring.decrypt<string>(added.data.fileName);
    const bytes = await this.ctx.keyring.decryptBytes(row.person_id, { iv: Buffer.from(row.iv), tag: Buffer.from(row.tag), ct }, documentId);
    return { personId: row.person_id, contentType: row.content_type, fileName, bytes };
  }

  /** The erasure of a person: the rows go (the key is shredded by intake, so no copy opens either). */
  async erase(personId: string): Promise<number> {
    const rows = await this.ctx.db.query('DELETE FROM documents.documents WHERE person_id = $1 RETURNING document_id', [personId]);
    return rows.length;
  }
}
