/**
 * Sealing and opening cells: `fieldcrypt/cell`.
 * @module
 */
export type { CellContext, RowKey, RowKeyPart } from "../internal/context.js";
export type { AlgorithmName, ValueTypeName } from "../internal/format.js";
export type { CellValue, JsonValue } from "../internal/value-codec.js";
export { type Cell, decrypt } from "./decrypt.js";
export { type EncryptOptions, encrypt } from "./encrypt.js";
export { type CellInfo, inspectCell, isCell } from "./inspect.js";
