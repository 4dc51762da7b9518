/** Shared by the key-store operations (not exported from the subpath). */
import { resolveActor } from "../audit/actor.js";
import { appendAudit } from "../audit/append.js";
import type { Auditor } from "../audit/auditor.js";
import { failureKind } from "../errors/foreign.js";
import { isFieldcryptError, RootKeyUnavailable } from "../errors/index.js";
import { contextBytes, lengthPrefixed } from "../internal/context.js";
import type { Queryable } from "../internal/db-port.js";
import type { RootKeyProvider } from "../kms/provider.js";

/** Options every key operation takes to audit what it does. */
export interface KeyEventOptions {
  /** When given, every key event is appended to `fieldcrypt_audit` (see `fieldcrypt/audit`). */
  readonly auditor?: Auditor | undefined;
  /** The actor written into audit entries (default: the OS user; see `resolveActor`). */
  readonly actor?: string | undefined;
}

const AAD_LABEL = Buffer.from("fieldcrypt-v1-data-key", "latin1");

/** The associated data a data key is wrapped under: its id and scope, so a wrapped key cannot move. */
export function dataKeyAad(id: string, scope: string | null): Buffer {
  return Buffer.concat([
    AAD_LABEL,
    lengthPrefixed([Buffer.from(id, "latin1")]),
    Buffer.of(scope === null ? 0 : 1),
    lengthPrefixed([Buffer.from(scope ?? "", "utf8")]),
  ]);
}

export function scopeParam(scope: unknown): string | null {
  if (scope === undefined || scope === null) return null;
  contextBytes(scope, "scope");
  return scope as string;
}

/** Runs a provider call; a foreign rejection becomes RootKeyUnavailable (no message, no cause kept). */
export async function callProvider<T>(provider: RootKeyProvider, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (isFieldcryptError(error)) throw error;
    throw new RootKeyUnavailable(
      provider.id,
      `root key ${JSON.stringify(provider.id)} is unavailable (${failureKind(error)})`,
    );
  }
}

export async function audit(
  db: Queryable,
  options: KeyEventOptions | undefined,
  action: string,
  scope: string | null,
  keyIds: readonly string[],
  details: Record<string, unknown>,
): Promise<void> {
  if (options?.auditor === undefined) return;
  await appendAudit(db, options.auditor, {
    actor: resolveActor(options.actor),
    action,
    scope: scope ?? undefined,
    keyIds,
    details,
  });
}
