/**
 * Per-(key, algorithm, table, column) state, derived once and cached:
 *
 *   subkey = HKDF-SHA256(IKM = key, salt = "", info = "fieldcrypt-v1-field-key" ‖ u8(alg) ‖ LP(table) ‖ LP(column), L = 32)
 *
 * plus the persistent XAES state (or the AES-256-GCM KeyObject), the cell header prefix, and the
 * associated data per (scope, value type) for cells without a row key, so that the per-cell path
 * allocates nothing it can avoid.
 */
import { createSecretKey, type KeyObject } from "node:crypto";
import { contextBytes, encodeRowKey, lengthPrefixed } from "./context.js";
import { ALG_XAES_256_GCM, type AlgorithmInfo, MAGIC, MAX_TYPE_ID, VERSION } from "./format.js";
import { hkdfSha256 } from "./hkdf.js";
import { getKeyMaterial } from "./key-material.js";
import { XaesKey } from "./xaes-256-gcm.js";

const INFO_LABEL = Buffer.from("fieldcrypt-v1-field-key", "latin1");
/** Scopes whose associated data is cached per field; beyond this the cache starts over. */
const MAX_CACHED_SCOPES = 4096;
const EMPTY = Buffer.alloc(0);

/** The HKDF info string for a field subkey (exported for vectors and interop tests). */
export function fieldKeyInfo(algorithmId: number, table: Buffer, column: Buffer): Buffer {
  return Buffer.concat([INFO_LABEL, Buffer.of(algorithmId), lengthPrefixed([table, column])]);
}

export class FieldCipher {
  readonly algorithm: AlgorithmInfo;
  /** Cell header with a zero type byte: 0xFC ‖ 1 ‖ alg ‖ 0 ‖ kidLen ‖ kid. */
  readonly header: Buffer;
  /** Set for XAES-256-GCM. */
  readonly xaes: XaesKey | undefined;
  /** Set for AES-256-GCM. */
  readonly gcmKey: KeyObject | undefined;
  /** The scope of the key (a scoped key opens only its own scope's cells); undefined when shared. */
  readonly keyScope: string | undefined;
  /** LP(table) ‖ LP(column). */
  readonly #tableColumn: Buffer;
  readonly #aadByScope = new Map<string, (Buffer | undefined)[]>();

  constructor(
    material: KeyObject,
    keyId: string,
    keyScope: string | undefined,
    algorithm: AlgorithmInfo,
    table: Buffer,
    column: Buffer,
  ) {
    this.algorithm = algorithm;
    this.keyScope = keyScope;
    const kid = Buffer.from(keyId, "latin1");
    this.header = Buffer.concat([Buffer.of(MAGIC, VERSION, algorithm.id, 0, kid.length), kid]);
    const subkey = hkdfSha256(material, EMPTY, fieldKeyInfo(algorithm.id, table, column), 32);
    if (algorithm.id === ALG_XAES_256_GCM) {
      this.xaes = new XaesKey(subkey);
      this.gcmKey = undefined;
    } else {
      this.xaes = undefined;
      this.gcmKey = createSecretKey(subkey);
    }
    subkey.fill(0);
    this.#tableColumn = lengthPrefixed([table, column]);
  }

  /** The associated data for a cell of value type `type` in this field under `scope` and `rowKey`. */
  aad(scope: unknown, type: number, rowKey: unknown): Buffer {
    if (rowKey === undefined) {
      // "" keys the absent scope in the cache, so an explicit "" must be refused before the lookup.
      if (scope === "") contextBytes(scope, "scope");
      const key = scope === undefined ? "" : (scope as string);
      let byType = this.#aadByScope.get(key);
      if (byType === undefined) {
        if (scope !== undefined) contextBytes(scope, "scope");
        if (this.#aadByScope.size >= MAX_CACHED_SCOPES) this.#aadByScope.clear();
        byType = new Array<Buffer | undefined>(MAX_TYPE_ID + 1);
        this.#aadByScope.set(key, byType);
      }
      let aad = byType[type];
      if (aad === undefined) {
        aad = this.#build(scope, type, encodeRowKey(undefined));
        byType[type] = aad;
      }
      return aad;
    }
    return this.#build(scope, type, encodeRowKey(rowKey));
  }

  #build(scope: unknown, type: number, rowKey: Buffer): Buffer {
    const scopeBytes = scope === undefined ? EMPTY : contextBytes(scope, "scope");
    const aad = Buffer.concat([this.header, lengthPrefixed([scopeBytes]), this.#tableColumn, rowKey]);
    aad[3] = type;
    return aad;
  }
}

type FieldMap = Map<string, Map<string, (FieldCipher | undefined)[]>>;
const fieldsByKey = new WeakMap<object, FieldMap>();

/**
 * The cached field state for `key` (a keyring Key), `algorithm`, `table`, `column`; derives it on
 * first use. Validates table and column on that first use.
 */
export function getFieldCipher(
  key: { readonly id: string; readonly scope: string | undefined },
  algorithm: AlgorithmInfo,
  table: unknown,
  column: unknown,
): FieldCipher {
  let tables = fieldsByKey.get(key);
  if (tables === undefined) {
    tables = new Map();
    fieldsByKey.set(key, tables);
  }
  let columns = tables.get(table as string);
  let byAlg = columns?.get(column as string);
  let field = byAlg?.[algorithm.id];
  if (field !== undefined) return field;

  const tableBytes = contextBytes(table, "table");
  const columnBytes = contextBytes(column, "column");
  const material = getKeyMaterial(key);
  if (material === undefined) throw new TypeError("not a fieldcrypt Key");
  field = new FieldCipher(material, key.id, key.scope, algorithm, tableBytes, columnBytes);
  if (columns === undefined) {
    columns = new Map();
    tables.set(table as string, columns);
  }
  if (byAlg === undefined) {
    byAlg = [];
    columns.set(column as string, byAlg);
  }
  byAlg[algorithm.id] = field;
  return field;
}
