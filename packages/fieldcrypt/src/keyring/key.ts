import { createSecretKey } from "node:crypto";
import { inspect } from "node:util";
import { setKeyMaterial } from "../internal/key-material.js";

/**
 * One data key of a keyring: a short printable id, an optional scope, and 256 bits of material
 * that never leave the object except through `fieldcrypt/insecure-key-material`.
 * `inspect`, `toJSON` and `toString` redact the material. Exported from `fieldcrypt/keyring`.
 *
 * @example
 * ```ts
 * util.inspect(keyring.primary()) // 'Key { id: "v2", scope: undefined, material: [redacted] }'
 * ```
 */
export class Key {
  /** Key id, written into every cell header; safe to print. */
  readonly id: string;
  /** The scope (tenant/subject) this key belongs to; `undefined` for a key shared by all scopes. */
  readonly scope: string | undefined;

  /** @internal Use `createKeyring` or the loaders; `bytes` is copied into a KeyObject and not kept. */
  constructor(id: string, bytes: Uint8Array, scope: string | undefined) {
    this.id = id;
    this.scope = scope;
    setKeyMaterial(this, createSecretKey(bytes));
    Object.freeze(this);
  }

  toString(): string {
    return `Key(${this.id}, material redacted)`;
  }

  toJSON(): { id: string; scope: string | null; material: "[redacted]" } {
    return { id: this.id, scope: this.scope ?? null, material: "[redacted]" };
  }

  [inspect.custom](): string {
    return `Key { id: ${JSON.stringify(this.id)}, scope: ${this.scope === undefined ? "undefined" : JSON.stringify(this.scope)}, material: [redacted] }`;
  }
}
