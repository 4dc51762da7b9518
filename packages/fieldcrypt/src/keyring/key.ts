import { createSecretKey, type KeyObject } from "node:crypto";
import { inspect } from "node:util";
import { getKeyMaterial, setKeyMaterial } from "../internal/key-material.js";
import { checkValueOf } from "./check-value.js";

/**
 * One data key of a keyring: a short printable id, an optional scope, and 256 bits of material
 * that never leave the object except through `fieldcrypt/insecure-key-material`.
 * `inspect`, `toJSON` and `toString` redact the material and show the key's public check value
 * (spec/keys-v1.md), which tells two keys with the same id apart. Exported from `fieldcrypt/keyring`.
 *
 * @example
 * ```ts
 * util.inspect(keyring.primary()) // 'Key { id: "v2", scope: undefined, checkValue: "kcv1:…", material: [redacted] }'
 * ```
 */
export class Key {
  /** Key id, written into every cell header; safe to print. */
  readonly id: string;
  /** The scope (tenant/subject) this key belongs to; `undefined` for a key shared by all scopes. */
  readonly scope: string | undefined;
  #checkValue: string | undefined;

  /** @internal Use `createKeyring` or the loaders; `bytes` is copied into a KeyObject and not kept. */
  constructor(id: string, bytes: Uint8Array, scope: string | undefined) {
    this.id = id;
    this.scope = scope;
    setKeyMaterial(this, createSecretKey(bytes));
    Object.freeze(this);
  }

  /**
   * The key check value, `kcv1:` and 22 base64url characters (spec/keys-v1.md): a one-way public
   * fingerprint of the material, safe to print, log and store. Two keys with the same id and
   * different material have different check values. Computed once, on first use.
   *
   * @example
   * ```ts
   * if (key.checkValue !== recorded) throw new Error(`key ${key.id} is not the key that wrote this`);
   * ```
   */
  get checkValue(): string {
    this.#checkValue ??= checkValueOf(getKeyMaterial(this) as KeyObject);
    return this.#checkValue;
  }

  toString(): string {
    return `Key(${this.id}, material redacted)`;
  }

  toJSON(): { id: string; scope: string | null; checkValue: string; material: "[redacted]" } {
    return { id: this.id, scope: this.scope ?? null, checkValue: this.checkValue, material: "[redacted]" };
  }

  [inspect.custom](): string {
    return `Key { id: ${JSON.stringify(this.id)}, scope: ${this.scope === undefined ? "undefined" : JSON.stringify(this.scope)}, checkValue: ${JSON.stringify(this.checkValue)}, material: [redacted] }`;
  }
}
