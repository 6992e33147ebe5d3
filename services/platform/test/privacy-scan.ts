import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigResourceTypes, type Kafka } from 'kafkajs';

// The search for personal values that the privacy tests run over everything a
// journey left behind: log lines, dead letters, a pg_dump, keyring pages, and
// Kafka's own segment files. Hits name the source and the value's index in the
// list, never the value: a failing run must not print personal data either.

// ── The journeys' people, partners and free text (kafka-scenario, privacy-kafka) ──
export const COESO = { partnerId: 'consorzio-coeso', serviceId: 'casa', domain: 'housing' };
export const LEGALE = { partnerId: 'sportello-legale', serviceId: 'consulenza-legale', domain: 'economic' };
/** A person with every personal field, fiscal code included (it matches the names, birth date and place). */
export const PERSON = {
  accessPoint: 'pistoia-centro-melos',
  municipality: 'Pistoia',
  givenName: 'Mariagrazia',
  familyName: 'Rossellini',
  birthDate: '1985-12-10',
  fiscalCode: 'RSSMGR85T50G713B',
  phone: '+39 0573 918273',
  email: 'mariagrazia.rossellini@example.org',
  address: 'Via dei Vetturini 27, Pistoia',
};
/** Free text of the team and the partners: personal data, stored only encrypted. */
export const JOURNEY_FREE_TEXT = {
  notes: 'sfratto esecutivo a gennaio',
  goal: 'trovare un alloggio stabile',
  reasonCoeso: 'supporto abitativo urgente',
  reasonLegale: 'debiti con il locatore',
  declineNote: 'ha già un avvocato di fiducia',
};

/** Where each value was found: `"<source>: value #<i>"`; empty when nowhere. */
export function findValues(sources: Iterable<[string, string | Buffer]>, values: readonly string[]): string[] {
  // bytes read as latin1, so that binary data (segment files, pages) decodes
  // one char per byte, and values as their UTF-8 bytes read the same way;
  // lowercased on both sides, so that case changes do not hide a value
  const needles = values.map((v) => Buffer.from(v, 'utf8').toString('latin1').toLowerCase());
  const hits: string[] = [];
  for (const [source, content] of sources) {
    const hay = (typeof content === 'string' ? Buffer.from(content, 'utf8') : content).toString('latin1').toLowerCase();
    needles.forEach((n, i) => hay.includes(n) && hits.push(`${source}: value #${i}`));
  }
  return hits;
}

/** A pg_dump of every schema of the database (definitions and data). */
export function dumpDatabase(url: string): string {
  return execFileSync('pg_dump', ['--no-owner', '-d', url], { maxBuffer: 512 * 1024 * 1024 }).toString('utf8');
}

/** Every page of the keyring table as stored (pageinspect), after whatever maintenance ran. */
export async function keyringPages(query: <R>(sql: string, params?: unknown[]) => Promise<R[]>): Promise<Buffer[]> {
  await query('CREATE EXTENSION IF NOT EXISTS pageinspect');
  const [size] = await query<{ pages: number }>(`SELECT (pg_relation_size('keyring.person_keys') / current_setting('block_size')::int)::int AS pages`);
  const pages: Buffer[] = [];
  for (let i = 0; i < (size?.pages ?? 0); i++) {
    const [page] = await query<{ raw: Uint8Array }>(`SELECT get_raw_page('keyring.person_keys', $1) AS raw`, [i]);
    pages.push(Buffer.from(page!.raw));
  }
  return pages;
}

/** The segment files of each topic's partitions, read from the broker's log directories. */
export interface TopicSegments {
  /** the broker's `log.dirs`, as it reports them */
  logDirs: string[];
  /** topic → its segment files (path and bytes) */
  files: Map<string, Array<{ path: string; bytes: Buffer }>>;
}

/** Settings of the (first) broker, as it reports them. */
export async function brokerSettings(kafka: Kafka, names: readonly string[]): Promise<Record<string, string>> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const { brokers } = await admin.describeCluster();
    const { resources } = await admin.describeConfigs({
      includeSynonyms: false,
      resources: [{ type: ConfigResourceTypes.BROKER, name: String(brokers[0]!.nodeId), configNames: [...names] }],
    });
    return Object.fromEntries(resources[0]!.configEntries.map((e) => [e.configName, e.configValue]));
  } finally {
    await admin.disconnect();
  }
}

/**
 * Reads the raw segment files of `topics` from a broker running on this
 * machine: its log directories come from the broker itself (`log.dirs`), so
 * wherever KAFKA_DATA_DIR put them. Throws when they are not on this machine.
 * Segments that retention deleted (`*.log.deleted`) count too: their bytes
 * stay on disk until the broker removes the files (`file.delete.delay.ms`).
 */
export async function topicSegments(kafka: Kafka, topics: readonly string[]): Promise<TopicSegments> {
  const settings = await brokerSettings(kafka, ['log.dirs', 'log.dir']);
  const logDirs = (settings['log.dirs'] || settings['log.dir'] || '').split(',').filter(Boolean);
  const local = logDirs.filter((d) => existsSync(d));
  if (!local.length) throw new Error(`the broker's log directories (${logDirs.join(', ') || 'none reported'}) are not on this machine: the segment scan needs the local test broker (infra/kafka)`);
  const files = new Map<string, Array<{ path: string; bytes: Buffer }>>();
  for (const topic of topics) {
    // a partition's directory is `<topic>-<partition>`
    const partition = new RegExp(`^${topic.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}-\\d+$`);
    const mine: Array<{ path: string; bytes: Buffer }> = [];
    for (const dir of local) {
      for (const name of readdirSync(dir)) {
        if (!partition.test(name) || !statSync(join(dir, name)).isDirectory()) continue;
        for (const f of readdirSync(join(dir, name))) {
          if (!f.endsWith('.log') && !f.endsWith('.log.deleted')) continue;
          // the broker may remove a file between the listing and the read
          try {
            mine.push({ path: join(dir, name, f), bytes: readFileSync(join(dir, name, f)) });
          } catch (e) {
            if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
          }
        }
      }
    }
    files.set(topic, mine);
  }
  return { logDirs: local, files };
}
