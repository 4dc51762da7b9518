import type { EncryptedTable } from "../table/index.js";

/**
 * A Prisma filter matching the rows whose encrypted `column` equals `value`, through its blind
 * index: `{ in: [...] }`, one value per live key (rows written before and after a rotation match).
 * Put it on the blind-index field. Exported from `fieldcrypt/prisma`.
 *
 * The value is normalized as the blind index declares (e.g. trimmed and lowercased) and never
 * reaches Prisma. When the table takes its scope from a column, pass that scope (the rows' clinic,
 * tenant…) and filter on the scope column too; with a scope context, the current scope is used.
 * Security: a blind index leaks equality within a scope — who shares an e-mail address — to anyone
 * who reads the table.
 *
 * @example
 * ```ts
 * import { blindIndexIn } from "fieldcrypt/prisma";
 * const found = await prisma.patient.findMany({
 *   where: { clinicId, emailBidx: blindIndexIn(patients, "email", "Ada@Example.org", { scope: clinicId }) },
 * });
 * ```
 */
export function blindIndexIn(
  table: EncryptedTable,
  column: string,
  value: string,
  context?: { readonly scope?: string | undefined },
): { in: string[] } {
  return { in: table.searchValues(column, value, context) };
}
