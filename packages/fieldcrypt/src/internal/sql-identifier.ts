/** SQL identifiers in statements that fieldcrypt builds (node-postgres helpers, jobs). */
import { InvalidOption } from "../errors/index.js";

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_$]*$/;

/** Quotes an SQL identifier; each dot-separated part is quoted on its own ("schema"."table"). */
export function quoteIdentifier(name: string): string {
  return name
    .split(".")
    .map((part) => {
      if (!IDENTIFIER.test(part))
        throw new InvalidOption("SQL identifiers must be plain names (letters, digits, _ and $)");
      return `"${part}"`;
    })
    .join(".");
}
