/** What `fieldcrypt jobs errors ID` prints: the table, or the documented JSON shape. Not exported. */
import type { JobError } from "fieldcrypt/jobs";
import type { Io } from "../../internal/io.js";
import { textTable } from "../../internal/text-table.js";

/**
 * One failed cell in `jobs errors --json` (packages/cli/README.md, spec/jobs-v1.md §7): exactly
 * these keys, in this order. New keys may be added in a minor version; none is removed or renamed.
 */
export interface JobErrorJson {
  readonly table: string;
  readonly rowKey: readonly string[];
  readonly column: string;
  readonly scope: string | null;
  readonly code: string;
  readonly errorClass: string | null;
  readonly time: string;
}

export function jobErrorJson(e: JobError): JobErrorJson {
  return {
    table: e.table,
    rowKey: e.rowKey,
    column: e.column,
    scope: e.scope,
    code: e.code,
    errorClass: e.errorClass,
    time: e.createdAt.toISOString(),
  };
}

/** Prints a job's errors as a table (`-` for no scope or class) or as a JSON array. */
export function printJobErrors(io: Io, id: string, errors: readonly JobError[], json: boolean): void {
  if (json) {
    io.out(`${JSON.stringify(errors.map(jobErrorJson), null, 2)}\n`);
    return;
  }
  if (errors.length === 0) {
    io.out(`job ${id} recorded no errors\n`);
    return;
  }
  const header = ["TABLE", "ROW KEY", "COLUMN", "SCOPE", "CODE", "CLASS", "TIME"];
  const rows = errors.map((e) => [
    e.table,
    e.rowKey.join(","),
    e.column,
    e.scope ?? "-",
    e.code,
    e.errorClass ?? "-",
    e.createdAt.toISOString(),
  ]);
  io.out(`${textTable(header, rows)}\n`);
}
