/**
 * `--actor`: checked by the library's one actor rule (`resolveActor`, fieldcrypt/audit), so the CLI,
 * audit entries and job runs accept the same names; a bad one is a usage error naming the rule.
 */
import { ACTOR_RULE, resolveActor } from "fieldcrypt/audit";
import { usageError } from "./cli-error.js";

/** The `--actor` flag checked, or `fallback` when it is absent (`undefined`: the library's default, the OS user). */
export function actorFlag(flag: string | undefined, fallback: string): string;
export function actorFlag(flag: string | undefined): string | undefined;
export function actorFlag(flag: string | undefined, fallback?: string): string | undefined {
  if (flag === undefined) return fallback;
  try {
    return resolveActor(flag, "--actor");
  } catch {
    throw usageError(`--actor must be ${ACTOR_RULE}`, "for example: --actor ops@example.org");
  }
}
