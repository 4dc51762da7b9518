import type { CellContext } from "fieldcrypt/cell";
import { requireFlag } from "./args.js";

/** The flags that name a cell's place: shared by encrypt and decrypt. */
export const CONTEXT_FLAGS = {
  table: { type: "string" },
  column: { type: "string" },
  scope: { type: "string" },
  "row-key": { type: "string", multiple: true },
} as const;

export const CONTEXT_HELP = `  --table T       table the cell lives in, as the app names it (required)
  --column C      column the cell lives in (required)
  --scope S       tenant or subject scope, e.g. a clinic or user id
  --row-key K     the row's primary key; repeat it for a composite key, in column order`;

/** Builds the cell context from --table, --column, --scope and --row-key. */
export function contextFromFlags(
  flags: { table: string | undefined; column: string | undefined; scope: string | undefined; "row-key": string[] },
  command: string,
): CellContext {
  const rowKey = flags["row-key"];
  return {
    table: requireFlag(flags.table, "table", command),
    column: requireFlag(flags.column, "column", command),
    scope: flags.scope,
    rowKey: rowKey.length === 0 ? undefined : rowKey.length === 1 ? rowKey[0] : rowKey,
  };
}
