/** The `fieldcrypt jobs resume ID …` a stopped job prints: runnable as it is, and free of secrets. Not exported. */

/** The flags of `jobs run` / `resume` / `retry` that a resume needs again to find the same config, keys and database. */
export interface ResumeFlags {
  readonly config: string | undefined;
  readonly "keys-file": string | undefined;
  readonly "database-url": string | undefined;
  readonly scope: string | undefined;
}

/**
 * `fieldcrypt jobs resume ID` with the --config, --keys-file, --database-url and --scope that were
 * given, shell-quoted. A URL's password is left out (it is best kept in PGPASSWORD or ~/.pgpass);
 * FIELDCRYPT_KEYS and DATABASE_URL stay in the environment, where they were.
 */
export function resumeCommand(jobId: string, flags: ResumeFlags): string {
  const words = ["fieldcrypt", "jobs", "resume", jobId];
  if (flags.config !== undefined) words.push("--config", shellQuote(flags.config));
  if (flags["keys-file"] !== undefined) words.push("--keys-file", shellQuote(flags["keys-file"]));
  const url = flags["database-url"] === undefined ? undefined : withoutPassword(flags["database-url"]);
  if (url !== undefined) words.push("--database-url", shellQuote(url));
  if (flags.scope !== undefined) words.push("--scope", shellQuote(flags.scope));
  return words.join(" ");
}

/** The URL without its password; undefined when it cannot be parsed (then it is not repeated at all). */
function withoutPassword(text: string): string | undefined {
  if (text.startsWith("pglite:")) return text;
  try {
    const url = new URL(text);
    url.password = "";
    return url.toString();
  } catch {
    return undefined;
  }
}

function shellQuote(word: string): string {
  return /^[A-Za-z0-9_/.,:@%+=-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}
