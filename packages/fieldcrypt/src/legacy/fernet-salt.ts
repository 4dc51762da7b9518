/**
 * The salt of a Fernet decoder's per-row PBKDF2 (not exported from `fieldcrypt/legacy` except its
 * types): `static ‖ str(row[append])`, a salt column, a template over row columns
 * (`"user_{user_id}_salt"`, like Python's `f"user_{user_id}_salt".encode()`), or a function of the
 * row. Every recipe is checked when the decoder is made; a row that does not fit it (a column
 * missing or NULL, a function that throws) is that row's `ERR_INVALID_CONTEXT`.
 *
 * @internal
 */
import { InvalidContext, InvalidOption, isFieldcryptError } from "../errors/index.js";
import { describeType } from "../internal/describe-type.js";
import type { LegacyRow } from "./format.js";
import { asBytes, optionBytes, rowValue, rowValueBytes } from "./shared.js";

/** A salt function: the salt bytes of a row (a string is UTF-8 encoded). Must be deterministic. */
export type FernetSaltFunction = (row: LegacyRow) => Uint8Array | string;

/**
 * The salt of the per-row PBKDF2:
 * - `{ static, append? }`: `static ‖ str(row[append]).encode()` (just `static` without `append`);
 * - `{ column, encoding? }`: a per-row salt column (bytea, or `"hex"` / `"base64"` text);
 * - `{ template }`: text with row columns in braces, `"user_{user_id}_salt"` (`{{` and `}}` are
 *   literal braces), each column written as `str(value)` (a bytea value as its bytes), UTF-8;
 * - a function of the row, with the columns it reads in `derive.rowColumns`.
 */
export type FernetSalt =
  | { readonly static: Uint8Array | string; readonly append?: string }
  | { readonly column: string; readonly encoding?: "bytes" | "hex" | "base64" }
  | { readonly template: string }
  | FernetSaltFunction;

/** A salt recipe resolved: the salt of a row, and the row columns it reads. */
export interface SaltRecipe {
  readonly salt: (row: LegacyRow | undefined) => Buffer;
  readonly rowColumns: readonly string[];
}

const FORMAT = "fernet";

function columnName(value: unknown, name: string): string {
  if (typeof value !== "string" || value === "") throw new InvalidOption(`${name} must be a column name`);
  return value;
}

/** Resolves `derive.salt` (and `derive.rowColumns`, for a function) into a {@link SaltRecipe}. */
export function saltRecipe(salt: unknown, rowColumns: unknown): SaltRecipe {
  if (typeof salt === "function") return functionSalt(salt as FernetSaltFunction, rowColumns);
  if (rowColumns !== undefined) throw new InvalidOption("derive.rowColumns goes with a salt function only");
  if (typeof salt !== "object" || salt === null) {
    throw new InvalidOption(`derive.salt must be an object or a function (got ${describeType(salt)})`);
  }
  const recipe = salt as Record<string, unknown>;
  if ("static" in recipe) return staticSalt(recipe);
  if ("column" in recipe) return columnSalt(recipe);
  if ("template" in recipe) return templateSalt(recipe.template);
  throw new InvalidOption("derive.salt must be { static, append? }, { column }, { template } or a function");
}

function staticSalt(recipe: Record<string, unknown>): SaltRecipe {
  const fixed = optionBytes(recipe.static, "derive.salt.static");
  if (recipe.append === undefined) return { salt: () => fixed, rowColumns: Object.freeze([]) };
  const append = columnName(recipe.append, "derive.salt.append");
  return {
    salt: (row) => Buffer.concat([fixed, rowValueBytes(row, append, FORMAT)]),
    rowColumns: Object.freeze([append]),
  };
}

function columnSalt(recipe: Record<string, unknown>): SaltRecipe {
  const column = columnName(recipe.column, "derive.salt.column");
  const encoding = recipe.encoding ?? "bytes";
  if (encoding !== "bytes" && encoding !== "hex" && encoding !== "base64") {
    throw new InvalidOption('derive.salt.encoding must be "bytes", "hex" or "base64"');
  }
  return {
    salt: (row) => {
      const value = rowValueBytes(row, column, FORMAT);
      if (encoding === "bytes") return value;
      return Buffer.from(value.toString("latin1"), encoding);
    },
    rowColumns: Object.freeze([column]),
  };
}

type TemplatePart = Buffer | { readonly column: string };

/** Splits a template into literal bytes and column names; unmatched braces are refused. */
export function parseTemplate(template: unknown): readonly TemplatePart[] {
  if (typeof template !== "string" || template === "") {
    throw new InvalidOption(`derive.salt.template must be a non-empty string (got ${describeType(template)})`);
  }
  const parts: TemplatePart[] = [];
  let literal = "";
  for (let i = 0; i < template.length; i++) {
    const c = template[i];
    if ((c === "{" || c === "}") && template[i + 1] === c) {
      literal += c; // {{ and }} are literal braces, as in Python's str.format
      i++;
    } else if (c === "}") {
      throw new InvalidOption("derive.salt.template has a } without its {");
    } else if (c === "{") {
      const end = template.indexOf("}", i + 1);
      if (end === -1) throw new InvalidOption("derive.salt.template has a { without its }");
      const column = template.slice(i + 1, end);
      if (column === "" || /[{:!]/.test(column)) {
        throw new InvalidOption(
          "derive.salt.template: each {…} must name a row column (no format specs; {{ and }} for literal braces)",
        );
      }
      if (literal !== "") parts.push(Buffer.from(literal, "utf8"));
      literal = "";
      parts.push({ column });
      i = end;
    } else {
      literal += c;
    }
  }
  if (literal !== "") parts.push(Buffer.from(literal, "utf8"));
  return parts;
}

function templateSalt(template: unknown): SaltRecipe {
  const parts = parseTemplate(template);
  const columns = [...new Set(parts.flatMap((p) => (Buffer.isBuffer(p) ? [] : [p.column])))];
  return {
    salt: (row) => Buffer.concat(parts.map((p) => (Buffer.isBuffer(p) ? p : rowValueBytes(row, p.column, FORMAT)))),
    rowColumns: Object.freeze(columns),
  };
}

function functionSalt(fn: FernetSaltFunction, rowColumns: unknown): SaltRecipe {
  if (!Array.isArray(rowColumns)) {
    throw new InvalidOption("a derive.salt function needs derive.rowColumns: the columns it reads");
  }
  const columns = rowColumns.map((c, i) => columnName(c, `derive.rowColumns[${i}]`));
  return {
    salt: (row) => {
      // The columns it reads are there (not NULL) before it runs, like every other recipe's.
      for (const column of columns) rowValue(row, column, FORMAT);
      let made: unknown;
      try {
        made = fn(row ?? {});
      } catch (error) {
        if (isFieldcryptError(error)) throw error;
        // Its message could quote the row: only the error's class name is kept.
        const name = error instanceof Error && /^[A-Za-z]{1,40}$/.test(error.name) ? error.name : "an error";
        throw new InvalidContext(`the ${FORMAT} legacy format's salt function threw ${name} for this row`);
      }
      if (typeof made === "string") return Buffer.from(made, "utf8");
      const bytes = asBytes(made);
      if (bytes === null) {
        throw new InvalidContext(
          `the ${FORMAT} legacy format's salt function must return a string or a Uint8Array (got ${describeType(made)})`,
        );
      }
      return Buffer.from(bytes);
    },
    rowColumns: Object.freeze([...new Set(columns)]),
  };
}
