import { createSecretKey, type KeyObject } from "node:crypto";
import { inspect } from "node:util";
import { InvalidKey, InvalidOption } from "../errors/index.js";
import { hkdfSha256 } from "../internal/hkdf.js";
import { getKeyMaterial } from "../internal/key-material.js";
import { checkValueOf } from "../keyring/check-value.js";
import { Key } from "../keyring/key.js";
import { decodeKeySecret } from "../keyring/key-string.js";
import type { AuditHead } from "./head.js";

const AUDIT_LABEL = Buffer.from("fieldcrypt-v1-audit", "latin1");
const auditKeys = new WeakMap<Auditor, KeyObject>();

/** The MAC key of an {@link Auditor}. Not a public export. @internal */
export function auditKeyOf(auditor: Auditor): KeyObject {
  const key = auditKeys.get(auditor);
  if (key === undefined) throw new TypeError("not a fieldcrypt Auditor");
  return key;
}

/** Options of {@link createAuditor}. */
export interface AuditorOptions {
  /** The clock of `at` timestamps (default `() => new Date()`); injectable for tests. */
  readonly now?: (() => Date) | undefined;
  /**
   * Called with the new head after every append (awaited; a rejection rejects the append, whose
   * entry is already written): publish it somewhere the database's writers cannot reach — a
   * file, a log line, a ticket — to verify against later with `verifyAudit(…, { expect })`.
   */
  readonly onHead?: ((head: AuditHead) => void | Promise<void>) | undefined;
}

/**
 * Holds the audit MAC key (redacted in `inspect`, `toJSON` and `toString`) and the clock.
 * Create one with {@link createAuditor}. Exported from `fieldcrypt/audit`.
 */
export class Auditor {
  /** Where the key came from: `"key:<id>"` (derived from a keyring key) or `"explicit"`. Safe to print. */
  readonly source: string;
  /** @internal */
  readonly now: () => Date;
  /** @internal The head sink of {@link AuditorOptions.onHead}. */
  readonly onHead: ((head: AuditHead) => void | Promise<void>) | undefined;
  #checkValue: string | undefined;

  /** @internal Use {@link createAuditor}. */
  constructor(
    material: KeyObject,
    source: string,
    now: () => Date,
    onHead?: ((head: AuditHead) => void | Promise<void>) | undefined,
  ) {
    this.source = source;
    this.now = now;
    this.onHead = onHead;
    auditKeys.set(this, material);
    Object.freeze(this);
  }

  /**
   * The check value of the audit MAC key (spec/keys-v1.md; public, `kcv1:…`). Stored with every
   * entry, so that a wrong audit key is told apart from tampering (`ERR_AUDIT_KEY_MISMATCH`).
   */
  get checkValue(): string {
    this.#checkValue ??= checkValueOf(auditKeyOf(this));
    return this.#checkValue;
  }

  toString(): string {
    return `Auditor(${this.source}, key redacted)`;
  }

  toJSON(): { source: string; checkValue: string; key: "[redacted]" } {
    return { source: this.source, checkValue: this.checkValue, key: "[redacted]" };
  }

  [inspect.custom](): string {
    return `Auditor { source: ${JSON.stringify(this.source)}, checkValue: ${JSON.stringify(this.checkValue)}, key: [redacted] }`;
  }
}

/**
 * Creates the auditor that MACs and verifies the audit chain. Exported from `fieldcrypt/audit`.
 *
 * Given a keyring {@link Key}, the audit key is derived from it:
 * `HKDF-SHA256(IKM = key, salt = "", info = "fieldcrypt-v1-audit", 32)` — a key of its own, never
 * used for cells or blind indexes. Given a key string (`FIELDCRYPT-SECRET-KEY-1-…`) or 32 bytes,
 * those are the audit key itself. Keep the audit key away from whoever can write the audit table:
 * a writer who holds it can forge entries.
 *
 * @example
 * ```ts
 * import { createAuditor } from "fieldcrypt/audit";
 * const auditor = createAuditor(process.env.FIELDCRYPT_AUDIT_KEY!);
 * ```
 */
export function createAuditor(key: Key | string | Uint8Array, options?: AuditorOptions): Auditor {
  const now = options?.now ?? (() => new Date());
  if (options?.onHead !== undefined && typeof options.onHead !== "function") {
    throw new InvalidOption("auditor onHead must be a function");
  }
  if (key instanceof Key) {
    const material = getKeyMaterial(key);
    if (material === undefined) throw new InvalidKey("audit key: not a fieldcrypt Key");
    const raw = hkdfSha256(material, Buffer.alloc(0), AUDIT_LABEL, 32);
    const derived = createSecretKey(raw);
    raw.fill(0);
    return new Auditor(derived, `key:${key.id}`, now, options?.onHead);
  }
  const bytes = decodeKeySecret(key, "audit key");
  const material = createSecretKey(bytes);
  bytes.fill(0);
  return new Auditor(material, "explicit", now, options?.onHead);
}
