import { createSecretKey, type KeyObject } from "node:crypto";
import { inspect } from "node:util";
import { InvalidKey } from "../errors/index.js";
import { hkdfSha256 } from "../internal/hkdf.js";
import { getKeyMaterial } from "../internal/key-material.js";
import { Key } from "../keyring/key.js";
import { decodeKeySecret } from "../keyring/key-string.js";

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

  /** @internal Use {@link createAuditor}. */
  constructor(material: KeyObject, source: string, now: () => Date) {
    this.source = source;
    this.now = now;
    auditKeys.set(this, material);
    Object.freeze(this);
  }

  toString(): string {
    return `Auditor(${this.source}, key redacted)`;
  }

  toJSON(): { source: string; key: "[redacted]" } {
    return { source: this.source, key: "[redacted]" };
  }

  [inspect.custom](): string {
    return `Auditor { source: ${JSON.stringify(this.source)}, key: [redacted] }`;
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
  if (key instanceof Key) {
    const material = getKeyMaterial(key);
    if (material === undefined) throw new InvalidKey("audit key: not a fieldcrypt Key");
    const raw = hkdfSha256(material, Buffer.alloc(0), AUDIT_LABEL, 32);
    const derived = createSecretKey(raw);
    raw.fill(0);
    return new Auditor(derived, `key:${key.id}`, now);
  }
  const bytes = decodeKeySecret(key, "audit key");
  const material = createSecretKey(bytes);
  bytes.fill(0);
  return new Auditor(material, "explicit", now);
}
