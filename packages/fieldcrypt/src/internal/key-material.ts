/**
 * Where key material lives: a module-private WeakMap from a Key to its node:crypto KeyObject (whose
 * bytes stay in OpenSSL memory, off the JS heap). No public export reaches this module except the
 * explicitly named `fieldcrypt/insecure-key-material`.
 */
import type { KeyObject } from "node:crypto";

const materials = new WeakMap<object, KeyObject>();

export function setKeyMaterial(owner: object, material: KeyObject): void {
  materials.set(owner, material);
}

export function getKeyMaterial(owner: object): KeyObject | undefined {
  return materials.get(owner);
}
