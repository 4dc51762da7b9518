/**
 * The audit head: the `seq` and MAC of the last entry, as one line to keep outside the database
 * (normative text: spec/audit-v1.md §5):
 *
 *   fieldcrypt-audit-head:v1:<seq>:<base64url(mac)>
 */
import { InvalidOption } from "../errors/index.js";
import type { Queryable } from "../internal/db-port.js";
import { describeType } from "../internal/describe-type.js";
import { MAC_BYTES } from "./encode.js";
import { readLastRow } from "./rows.js";

/** A point of the audit chain: entry `seq` and its MAC (base64url, 43 characters). Public values. */
export interface AuditHead {
  readonly seq: number;
  readonly mac: string;
}

const PREFIX = "fieldcrypt-audit-head:v1:";
const HEAD_RE = /^fieldcrypt-audit-head:v1:([1-9][0-9]{0,15}):([A-Za-z0-9_-]{42}[AEIMQUYcgkosw048])$/;
/** What {@link parseAuditHead} accepts, said in its error. */
export const AUDIT_HEAD_RULE = "fieldcrypt-audit-head:v1:<seq>:<43 base64url characters>";

/** @internal */
export function headOf(seq: number | bigint | string, mac: Uint8Array): AuditHead {
  return Object.freeze({ seq: Number(seq), mac: Buffer.from(mac).toString("base64url") });
}

/**
 * The one-line text of `head`, for a file, a log line or a ticket. Exported from `fieldcrypt/audit`.
 *
 * @example
 * ```ts
 * formatAuditHead(result.head!) // "fieldcrypt-audit-head:v1:42:3q2-7w…"
 * ```
 */
export function formatAuditHead(head: AuditHead): string {
  return `${PREFIX}${head.seq}:${head.mac}`;
}

/**
 * Parses a head line made by {@link formatAuditHead} (surrounding whitespace ignored). Throws
 * `ERR_INVALID_OPTION` naming the expected form, never echoing the input. Exported from
 * `fieldcrypt/audit`.
 *
 * @example
 * ```ts
 * const expect = parseAuditHead(readFileSync("audit-head.txt", "utf8"));
 * ```
 */
export function parseAuditHead(text: unknown): AuditHead {
  const match = typeof text === "string" ? HEAD_RE.exec(text.trim()) : null;
  if (match === null) {
    const got = typeof text === "string" ? `a string of ${text.length} characters` : describeType(text);
    throw new InvalidOption(`an audit head must be ${AUDIT_HEAD_RULE} (got ${got})`);
  }
  const seq = Number(match[1]);
  if (!Number.isSafeInteger(seq)) throw new InvalidOption(`an audit head must be ${AUDIT_HEAD_RULE} (seq too large)`);
  const mac = Buffer.from(match[2] as string, "base64url");
  if (mac.length !== MAC_BYTES) throw new InvalidOption(`an audit head must be ${AUDIT_HEAD_RULE}`);
  return headOf(seq, mac);
}

/** `expect` as given to verifyAudit: a head or its text. @internal */
export function toAuditHead(value: AuditHead | string): AuditHead {
  if (typeof value === "string") return parseAuditHead(value);
  if (typeof value !== "object" || value === null) return parseAuditHead(value);
  return parseAuditHead(formatAuditHead(value));
}

/**
 * The head of the log as stored: its last entry's `seq` and MAC, `undefined` when it is empty.
 * Needs no key and checks nothing — to anchor a state you trust, take `head` from a
 * {@link verifyAudit} that returned `ok`. Exported from `fieldcrypt/audit`.
 *
 * @example
 * ```ts
 * const head = await readAuditHead(pool);
 * if (head !== undefined) log.info(formatAuditHead(head));
 * ```
 */
export async function readAuditHead(db: Queryable): Promise<AuditHead | undefined> {
  const last = await readLastRow(db);
  return last === undefined ? undefined : headOf(last.seq, last.mac);
}
