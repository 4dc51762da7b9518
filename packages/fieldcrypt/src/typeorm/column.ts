import { Column, type ColumnOptions, type ValueTransformer } from "typeorm";
import type { EncryptedTable } from "../table/index.js";
import { encryptedTransformer } from "./transformer.js";

/**
 * The TypeORM column options of an encrypted column, returned by {@link encryptedColumnOptions}.
 * Exported (as a type) from `fieldcrypt/typeorm`.
 *
 * @example
 * ```ts
 * const name: EncryptedColumnDefinition = encryptedColumnOptions(patients, "name");
 * // { name: "name", type: "text", transformer: … }
 * ```
 */
export interface EncryptedColumnDefinition {
  /** The database column name: the one the table configuration encrypts (and binds into each cell). */
  readonly name: string;
  /** `text` for the text form, `bytea` for the binary form of the table configuration. */
  readonly type: "text" | "bytea";
  /** The transformer from {@link encryptedTransformer}. */
  readonly transformer: ValueTransformer;
}

/**
 * Column options for an encrypted column: its database name, SQL type (`text` or `bytea`, from the
 * configuration's `form`) and transformer. Spread them into an `EntitySchema` column or `@Column()`,
 * adding options of your own (`nullable`, `select`, …). Exported from `fieldcrypt/typeorm`.
 *
 * Binds what {@link encryptedTransformer} binds: table, column and the caller's scope.
 *
 * @example
 * ```ts
 * import { EntitySchema } from "typeorm";
 * import { encryptedColumnOptions } from "fieldcrypt/typeorm";
 * const Patient = new EntitySchema({ name: "patients", columns: {
 *   id: { type: "text", primary: true },
 *   born: { ...encryptedColumnOptions(patients, "born"), nullable: true }, // bytea
 * } });
 * ```
 */
export function encryptedColumnOptions(table: EncryptedTable, column: string): EncryptedColumnDefinition {
  const transformer = encryptedTransformer(table, column);
  // encryptedTransformer has refused a column the table does not encrypt.
  const form = table.columns.get(column)!.form;
  return { name: column, type: form === "binary" ? "bytea" : "text", transformer };
}

/**
 * A property decorator for an encrypted column: `@Column()` with {@link encryptedColumnOptions}.
 * Exported from `fieldcrypt/typeorm`.
 *
 * TypeORM's decorators are TypeScript's legacy decorators: the app's tsconfig needs
 * `experimentalDecorators` (the column type is explicit, so `emitDecoratorMetadata` is not needed
 * for these columns). The table configuration, and so the keyring, must exist when the entity
 * module is evaluated (load it with top-level `await` in the module the entities import).
 *
 * @example
 * ```ts
 * import { Entity, PrimaryColumn } from "typeorm";
 * import { EncryptedColumn } from "fieldcrypt/typeorm";
 * @Entity("patients")
 * export class Patient {
 *   @PrimaryColumn({ type: "text" }) id!: string;
 *   @EncryptedColumn(patients, "name", { nullable: true }) name!: string | null;
 * }
 * ```
 */
export function EncryptedColumn(
  table: EncryptedTable,
  column: string,
  options?: Omit<ColumnOptions, "name" | "type" | "transformer">,
): PropertyDecorator {
  return Column({ ...options, ...encryptedColumnOptions(table, column) });
}
