/**
 * The audit target: audit heads (`parseAuditHead`) and whole stored audit logs (`verifyAudit` over
 * an in-memory `fieldcrypt_audit`, with `expect` set to the true head). The logs are written by
 * `appendAudit` itself; a mutation edits one stored entry's field (every column, within what its
 * SQL type allows), deletes, duplicates, forges, reorders or renumbers entries, or changes the
 * expected head.
 *
 * A head is a plain text format: a mutated head that is still a head by the grammar (checked here
 * independently of the library: another `seq`, surrounding whitespace) must parse, to exactly that
 * head. A mutated log must verify as broken (`verify:<reason>`) or throw a typed error, unless it
 * is the original log — or differs only in `key_check`, which the MAC does not cover (counted as
 * `accepted:key-check-unauthenticated`).
 */
import {
  type Auditor,
  appendAudit,
  createAuditor,
  formatAuditHead,
  parseAuditHead,
  verifyAudit,
} from "fieldcrypt/audit";
import { type Acceptance, type Original, Rejection, sameValue, type Target } from "../harness.js";
import { BASE64URL, type Mutation, mutate, mutateBytes } from "../mutate.js";
import { Rng } from "../prng.js";
import { MemoryAuditTable, type StoredEntry } from "./audit-db.js";

const PREFIX = "fieldcrypt-audit-head:v1:";
const HEAD_CODES = new Set(["ERR_INVALID_OPTION"]);
const CHAIN_CODES = new Set([
  "verify:edited",
  "verify:deleted",
  "verify:reordered",
  "verify:inserted",
  "ERR_AUDIT_HEAD_MISMATCH",
  "ERR_AUDIT_KEY_MISMATCH",
  "ERR_INVALID_OPTION",
]);
const PRINTABLE = Array.from({ length: 95 }, (_, i) => String.fromCharCode(0x20 + i)).join("");
const BYTE_KINDS = ["bitflip", "byteset", "truncate", "extend", "insert", "delete", "splice"];

/** A stored log and the head it is expected to reach. */
interface AuditLog {
  readonly rows: readonly StoredEntry[];
  readonly expect: string;
}

/** A head by the grammar of spec/audit-v1.md §5, read without the library: `{ seq, mac }` or undefined. */
export function referenceHead(text: string): { seq: number; mac: string } | undefined {
  const t = text.trim();
  if (!t.startsWith(PREFIX)) return undefined;
  const rest = t.slice(PREFIX.length);
  const colon = rest.indexOf(":");
  const digits = rest.slice(0, colon);
  const mac = rest.slice(colon + 1);
  if (colon < 1 || digits[0] === "0" || ![...digits].every((c) => c >= "0" && c <= "9")) return undefined;
  const seq = Number(digits);
  if (!Number.isSafeInteger(seq)) return undefined;
  if (mac.length !== 43 || ![...mac].every((c) => BASE64URL.includes(c))) return undefined;
  // 43 characters carry 258 bits: the last character's 2 spare bits must be zero (32 bytes, canonical).
  return (BASE64URL.indexOf(mac[42] as string) & 3) === 0 ? { seq, mac } : undefined;
}

const ENTRIES = [
  { actor: "ops@example.org", action: "key.create", scope: "tenant-7", keyIds: ["dk-1"], details: { root: "r1" } },
  { actor: "fieldcrypt-cli", action: "job.run", keyIds: ["v1", "v2"], details: { rows: 1200, job: "j-1" } },
  { actor: "svc-import", action: "scope.shred", scope: "tenant-\u00e9", details: {} },
  { actor: "ops@example.org", action: "key.rewrap", keyIds: [], details: { nested: { a: [1, "b", null] } } },
  { actor: "ops@example.org", action: "key.destroy", scope: "tenant-7", keyIds: ["dk-1", "dk-3"], details: { n: 2 } },
];

async function writeLog(auditor: Auditor): Promise<AuditLog> {
  const table = new MemoryAuditTable();
  let head = "";
  for (const entry of ENTRIES) head = formatAuditHead((await appendAudit(table, auditor, entry)).head);
  return { rows: table.rows, expect: head };
}

function clock(start: number): () => Date {
  let tick = 0;
  return () => new Date(start + 1000 * tick++);
}

function headOriginal(text: string): Original {
  const expected = parseAuditHead(text);
  return {
    id: `head/${expected.seq}`,
    group: "heads",
    input: text,
    expected,
    shape: {
      form: "text",
      text,
      alphabet: `${BASE64URL}:`,
      bodyStart: PREFIX.length,
      prefixes: [
        "fieldcrypt-audit-head:v2:",
        "FIELDCRYPT-AUDIT-HEAD:V1:",
        "fieldcrypt-audit-head:v1",
        "",
        PREFIX + PREFIX,
      ],
    },
    codes: HEAD_CODES,
    open: (input) => parseAuditHead(input),
  };
}

function logOriginal(id: string, log: AuditLog, auditor: Auditor): Original {
  return {
    id,
    group: id,
    input: log,
    expected: log.rows.length,
    // A broken log costs verifyAudit ~2,000 MACs (it looks for a moved entry): about 5% of the cases.
    weight: 0.2,
    codes: CHAIN_CODES,
    open: async (input) => {
      const { rows, expect } = input as AuditLog;
      const result = await verifyAudit(new MemoryAuditTable(rows), auditor, { expect });
      return result.ok ? result.verified : new Rejection(`verify:${result.reason}`);
    },
  };
}

export async function auditTarget(seed: string): Promise<Target> {
  const rng = new Rng(seed, "audit/setup");
  const auditor = createAuditor(rng.bytes(32), { now: clock(1_700_000_000_000 + rng.int(1e9)) });
  const older = createAuditor(rng.bytes(32), { now: clock(1_600_000_000_000 + rng.int(1e9)) });
  const log = await writeLog(auditor);
  // A log written before key check values: the same entries with key_check NULL.
  const written = await writeLog(older);
  const legacy: AuditLog = { ...written, rows: written.rows.map((r) => ({ ...r, key_check: null })) };
  const heads = log.rows.map((r) =>
    formatAuditHead({ seq: Number(r.seq), mac: Buffer.from(r.mac).toString("base64url") }),
  );
  heads.push(formatAuditHead({ seq: Number.MAX_SAFE_INTEGER, mac: rng.bytes(32).toString("base64url") }));
  heads.push(formatAuditHead({ seq: 1_234_567_890_123_456, mac: Buffer.alloc(32).toString("base64url") }));
  const logs: [string, AuditLog, Auditor][] = [
    ["log/key-check", log, auditor],
    ["log/no-key-check", legacy, older],
  ];
  const checks = new Map(logs.map(([id, , a]) => [id, a.checkValue]));
  const otherCheck = createAuditor(rng.bytes(32)).checkValue;
  const originals = [...heads.map(headOriginal), ...logs.map(([id, l, a]) => logOriginal(id, l, a))];
  for (const o of originals) {
    if (!sameValue(await o.open(o.input), o.expected)) throw new Error(`fuzz setup: ${o.id} does not verify`);
  }
  return {
    name: "audit",
    originals,
    spellings: "tolerate",
    spellingNote: "an audit head may be surrounded by whitespace (parseAuditHead trims it)",
    mutate: (r, o, generic) =>
      o.group === "heads" ? generic() : mutateLog(r, o.input as AuditLog, [otherCheck, checks.get(o.id) as string]),
    accept: (input, o) =>
      o.group === "heads"
        ? acceptHead(input as string, o)
        : acceptLog(input as AuditLog, o, checks.get(o.id) as string),
  };
}

function acceptHead(input: string, o: Original): Acceptance | null {
  const head = referenceHead(input);
  if (head === undefined) return null;
  const reason = input === o.input ? "identical" : input.trim() === o.input ? "spelling:whitespace" : "another-valid";
  return { reason, value: head, mustOpen: true, allowed: true };
}

function acceptLog(input: AuditLog, o: Original, check: string): Acceptance | null {
  const original = o.input as AuditLog;
  const head = referenceHead(input.expect);
  const reaches =
    head !== undefined &&
    original.rows.some((r) => r.seq === String(head.seq) && Buffer.from(r.mac).toString("base64url") === head.mac);
  if (!reaches) return null;
  const value = original.rows.length;
  if (sameRows(input.rows, original.rows, undefined)) {
    const reason = input.expect === original.expect ? "identical" : "head:another-valid";
    return { reason, value, mustOpen: true, allowed: true };
  }
  // key_check is a hint outside the MAC: NULL (an older entry) or the auditor's own value verify alike.
  if (sameRows(input.rows, original.rows, check)) {
    return { reason: "key-check-unauthenticated", value, mustOpen: false, allowed: true };
  }
  return null;
}

function sameRows(a: readonly StoredEntry[], b: readonly StoredEntry[], check: string | undefined): boolean {
  const norm = (k: string | null): string | null => (check !== undefined && k === check ? null : k);
  return (
    a.length === b.length &&
    a.every((x, i) => {
      const y = b[i] as StoredEntry;
      const { key_check: kx, ...rx } = x;
      const { key_check: ky, ...ry } = y;
      return norm(kx) === norm(ky) && sameValue(rx, ry);
    })
  );
}

function mutateLog(rng: Rng, log: AuditLog, checks: readonly string[]): Mutation<AuditLog> {
  const roll = rng.int(100);
  if (roll < 12) return mutateExpect(rng, log);
  if (roll < 27) return mutateRows(rng, log);
  const i = rng.int(log.rows.length);
  const row = log.rows[i] as StoredEntry;
  const field = rng.pick([
    "mac",
    "prev_mac",
    "actor",
    "action",
    "scope",
    "key_ids",
    "details",
    "at_micros",
    "seq",
    "key_check",
  ] as const);
  const [value, note] = mutateField(rng, log, row, field, checks);
  const rows = log.rows.map((r, j) => (j === i ? { ...r, [field]: value } : r));
  return { kind: `entry:${field}`, input: { rows, expect: log.expect }, note: `entry ${row.seq} ${field}: ${note}` };
}

function mutateField(
  rng: Rng,
  log: AuditLog,
  row: StoredEntry,
  field: keyof StoredEntry,
  checks: readonly string[],
): [unknown, string] {
  const text = (value: string, alphabet: string): [string, string] => {
    const others = log.rows.map((r) => ({
      form: "text" as const,
      text: String(r[field] ?? ""),
      alphabet,
      bodyStart: 0,
    }));
    const m = mutate(rng, { form: "text", text: value, alphabet, bodyStart: 0 }, others);
    return [m.input as string, `${m.kind}, ${m.note}`];
  };
  switch (field) {
    case "mac":
    case "prev_mac": {
      const other = (): Buffer => Buffer.from(rng.pick(log.rows)[rng.pick(["mac", "prev_mac"] as const)]);
      const m = mutateBytes(rng, rng.pick(BYTE_KINDS), Buffer.from(row[field]), other);
      return [m.input, `${m.kind}, ${m.note}`];
    }
    case "actor":
    case "action":
      return text(row[field], PRINTABLE);
    case "details":
      return text(row.details, `${PRINTABLE}\u00e9`);
    case "scope":
      if (row.scope === null) return [rng.pick(["tenant-7", "", "tenant-\u00e9"]), "set on an entry without one"];
      return rng.chance(0.3) ? [null, "NULL"] : text(row.scope, PRINTABLE);
    case "key_ids":
      return mutateKeyIds(rng, row.key_ids);
    case "at_micros": {
      const delta = rng.pick([1n, -1n, 1000n, -1000n, 1_000_000n, -(10n ** 15n)]);
      return [(BigInt(row.at_micros) + delta).toString(), `moved by ${delta} µs`];
    }
    case "seq": {
      const used = new Set(log.rows.map((r) => r.seq));
      const free = ["1", "2", "6", "7", "100", "9007199254740993"].filter((s) => !used.has(s));
      const seq = rng.pick(free);
      return [seq, `renumbered ${seq}`];
    }
    case "key_check":
      if (row.key_check === null || rng.chance(0.5))
        return [rng.pick([null, ...checks]), "NULL or another check value"];
      return text(row.key_check, `${BASE64URL}:`);
    default:
      throw new RangeError(`unknown audit field ${field}`);
  }
}

function mutateKeyIds(rng: Rng, ids: readonly unknown[]): [unknown[], string] {
  const out = [...ids];
  const at = rng.int(out.length + 1);
  switch (rng.int(6)) {
    case 0:
      out.push("dk-9");
      return [out, "a key id appended"];
    case 1:
      out.splice(at, 1);
      return [out, `key id ${at} removed`];
    case 2:
      out.reverse();
      return [out, "reversed"];
    case 3:
      out.splice(at, 1, "");
      return [out, `key id ${at} emptied`];
    case 4:
      out.splice(at, ids.length === 0 ? 0 : 1, null);
      return [out, `key id ${at} NULL`];
    default:
      return [[out], "nested in a two-dimensional array"];
  }
}

function mutateRows(rng: Rng, log: AuditLog): Mutation<AuditLog> {
  const rows = [...log.rows];
  const n = rows.length;
  const i = rng.int(n);
  const j = (i + 1 + rng.int(n - 1)) % n;
  const last = rows[n - 1] as StoredEntry;
  const next = (BigInt(last.seq) + 1n).toString();
  const a = rows[i] as StoredEntry;
  const b = rows[j] as StoredEntry;
  let note: string;
  switch (rng.int(6)) {
    case 0:
      rows.splice(i, 1);
      note = `entry ${a.seq} deleted`;
      break;
    case 1:
      rows[i] = { ...b, seq: a.seq };
      rows[j] = { ...a, seq: b.seq };
      note = `entries ${a.seq} and ${b.seq} swapped`;
      break;
    case 2:
      rows.push({ ...a, seq: next });
      note = `entry ${a.seq} copied to ${next}`;
      break;
    case 3:
      rows.push({ ...a, seq: next, prev_mac: last.mac });
      note = `entry ${a.seq} copied to ${next} and chained to the last`;
      break;
    case 4: {
      // A forged entry chained to entry a, the later ones renumbered to make room.
      const seq = (BigInt(a.seq) + 1n).toString();
      for (let k = i + 1; k < n; k++)
        rows[k] = { ...(rows[k] as StoredEntry), seq: (BigInt((rows[k] as StoredEntry).seq) + 1n).toString() };
      rows.splice(i + 1, 0, { ...b, seq, prev_mac: a.mac, actor: `${b.actor}-forged` });
      note = `an entry forged after ${a.seq}, the later ones renumbered`;
      break;
    }
    default:
      rows[i] = { ...a, seq: next };
      rows.sort((x, y) => (BigInt(x.seq) < BigInt(y.seq) ? -1 : 1));
      note = `entry ${a.seq} renumbered ${next}`;
  }
  return { kind: "log", input: { rows, expect: log.expect }, note };
}

function mutateExpect(rng: Rng, log: AuditLog): Mutation<AuditLog> {
  const rows = log.rows;
  const macOf = (r: StoredEntry): string => Buffer.from(r.mac).toString("base64url");
  const a = rng.pick(rows);
  const b = rng.pick(rows);
  let expect: string;
  let note: string;
  switch (rng.int(4)) {
    case 0:
      expect = formatAuditHead({ seq: Number(a.seq), mac: macOf(a) });
      note = `the head of entry ${a.seq}`;
      break;
    case 1:
      expect = formatAuditHead({ seq: Number(a.seq), mac: macOf(b) });
      note = `entry ${a.seq} with the MAC of entry ${b.seq}`;
      break;
    case 2:
      expect = formatAuditHead({ seq: rows.length + rng.range(1, 3), mac: macOf(a) });
      note = "a seq past the end";
      break;
    default: {
      const others = rows.map((r) => ({
        form: "text" as const,
        text: formatAuditHead({ seq: Number(r.seq), mac: macOf(r) }),
        alphabet: `${BASE64URL}:`,
        bodyStart: 0,
      }));
      const m = mutate(
        rng,
        { form: "text", text: log.expect, alphabet: `${BASE64URL}:`, bodyStart: PREFIX.length },
        others,
      );
      expect = m.input as string;
      note = `${m.kind}, ${m.note}`;
    }
  }
  return { kind: "expect", input: { rows: log.rows, expect }, note: `expect: ${note}` };
}
