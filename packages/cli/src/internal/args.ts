import { parseArgs } from "node:util";
import { usageError } from "./cli-error.js";

/** One flag of a command. */
export interface FlagSpec {
  readonly type: "string" | "boolean";
  readonly multiple?: true;
  readonly short?: string;
}

export type FlagSpecs = Readonly<Record<string, FlagSpec>>;

/** Parsed flag values: a string flag is `string | undefined` (or `string[]` when repeatable). */
export type FlagValues<S extends FlagSpecs> = {
  -readonly [K in keyof S]: S[K] extends { type: "boolean" }
    ? boolean
    : S[K] extends { multiple: true }
      ? string[]
      : string | undefined;
};

export interface ParsedArgs<S extends FlagSpecs> {
  /** `--help` or `-h` was given: print the command's help, ignore everything else. */
  readonly help: boolean;
  readonly flags: FlagValues<S>;
  readonly positionals: string[];
}

export interface ParseOptions {
  /** Command name, for the hint (`run fieldcrypt <command> --help`). */
  readonly command: string;
  /** How many positional arguments the command takes (default 0). */
  readonly maxPositionals?: number;
  /** Said instead of echoing an unexpected positional argument, which may be a secret. */
  readonly positionalHint?: string;
}

// Echoed back only when it looks like a flag someone mistyped, not like data pasted in the wrong place.
const SAFE_FLAG_NAME = /^-{1,2}[a-z][a-z0-9-]{0,23}$/;

/**
 * Parses a command's arguments with node:util parseArgs, then reports mistakes itself: node's
 * messages quote arguments verbatim, and a stray argument can be a plaintext or a key string.
 */
export function parseCommandArgs<S extends FlagSpecs>(
  argv: readonly string[],
  specs: S,
  options: ParseOptions,
): ParsedArgs<S> {
  const { tokens } = parseArgs({
    args: [...argv],
    options: { ...specs, help: { type: "boolean", short: "h" } },
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  const helpHint = `run \`fieldcrypt ${options.command} --help\``;
  if (tokens.some((t) => t.kind === "option" && t.name === "help")) {
    return { help: true, flags: {} as FlagValues<S>, positionals: [] };
  }

  const flags: Record<string, string | string[] | boolean | undefined> = {};
  for (const [name, spec] of Object.entries(specs)) {
    flags[name] = spec.type === "boolean" ? false : spec.multiple === true ? [] : undefined;
  }
  const positionals: string[] = [];
  for (const token of tokens) {
    if (token.kind === "option-terminator") continue;
    if (token.kind === "positional") {
      positionals.push(token.value);
      continue;
    }
    const spec = Object.hasOwn(specs, token.name) ? specs[token.name] : undefined;
    if (spec === undefined) {
      const shown = SAFE_FLAG_NAME.test(token.rawName) ? ` ${token.rawName}` : "";
      throw usageError(`unknown option${shown} for \`fieldcrypt ${options.command}\``, helpHint);
    }
    const flag = `--${token.name}`;
    if (spec.type === "boolean") {
      if (token.value !== undefined) throw usageError(`option ${flag} takes no value`, helpHint);
      flags[token.name] = true;
      continue;
    }
    // Like parseArgs' strict mode: `--table --column c` is a forgotten value, not a table named "--column".
    if (token.value === undefined) throw usageError(`option ${flag} needs a value`, helpHint);
    // A negative number is a value (for the command to refuse by name), never a flag: no flag is a digit.
    if (token.inlineValue === false && token.value.startsWith("-") && !/^-\d/.test(token.value)) {
      throw usageError(`option ${flag} needs a value`, `write ${flag}=VALUE for a value that starts with -`);
    }
    if (spec.multiple === true) (flags[token.name] as string[]).push(token.value);
    else if (flags[token.name] !== undefined) throw usageError(`option ${flag} is given more than once`, helpHint);
    else flags[token.name] = token.value;
  }
  if (positionals.length > (options.maxPositionals ?? 0)) {
    throw usageError(`unexpected argument for \`fieldcrypt ${options.command}\``, options.positionalHint ?? helpHint);
  }
  return { help: false, flags: flags as FlagValues<S>, positionals };
}

/** The value of a required string flag, or a usage error naming it. */
export function requireFlag(value: string | undefined, name: string, command: string): string {
  if (value === undefined) {
    throw usageError(`missing --${name}`, `run \`fieldcrypt ${command} --help\``);
  }
  return value;
}
