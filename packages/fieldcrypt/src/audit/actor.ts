/**
 * The one rule for who did something, written into audit entries, key events and the record of job
 * runs: 1 to 200 printable ASCII characters, by default the OS user running the process.
 */
import { userInfo } from "node:os";
import { InvalidOption } from "../errors/index.js";

const ACTOR = /^[\x20-\x7e]{1,200}$/;

/** What {@link resolveActor} accepts, said in its error and the CLI's `--actor` message. */
export const ACTOR_RULE = "1 to 200 printable ASCII characters";

/**
 * `actor` checked against the one actor rule, or the OS user when it is `undefined` (`"unknown"` in
 * a container without a passwd entry). `label` names the value in the error. Throws `ERR_INVALID_OPTION` without echoing the value.
 * Exported from `fieldcrypt/audit`.
 *
 * @example
 * ```ts
 * import { resolveActor } from "fieldcrypt/audit";
 * const actor = resolveActor(flags.actor); // "ops@example.org", or the OS user
 * ```
 */
export function resolveActor(actor?: unknown, label = "actor"): string {
  if (actor === undefined) return osUser();
  if (typeof actor !== "string" || !ACTOR.test(actor)) throw new InvalidOption(`${label} must be ${ACTOR_RULE}`);
  return actor;
}

function osUser(): string {
  try {
    const name = userInfo().username;
    return ACTOR.test(name) ? name : "unknown";
  } catch {
    return "unknown";
  }
}
