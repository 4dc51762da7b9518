/**
 * Tenant/subject scopes carried by the async context: `fieldcrypt/scope`.
 *
 * There is no global scope store: create one context per app and hand it to the adapters, so that
 * two installed copies of fieldcrypt (or two apps in one process) never share state by accident.
 *
 * @module
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { contextBytes } from "../internal/context.js";

/** A place to run code "as" a tenant/subject, read back anywhere in its async call tree. */
export interface ScopeContext {
  /**
   * Runs `fn` with `scope` as the current scope (also across awaits, timers and promises started
   * inside). Validates the scope (non-empty, at most 1024 UTF-8 bytes): `ERR_INVALID_CONTEXT`.
   */
  run<T>(scope: string, fn: () => T): T;
  /** The scope of the innermost `run`, or `undefined` outside any. */
  current(): string | undefined;
}

/**
 * Creates a scope context backed by node:async_hooks AsyncLocalStorage. Exported from
 * `fieldcrypt/scope`.
 *
 * @example
 * ```ts
 * import { createScopeContext } from "fieldcrypt/scope";
 * export const tenants = createScopeContext();
 * app.use((req, res, next) => tenants.run(req.user.tenantId, next));
 * // adapters: { scope: tenants.current } — every cell is bound to (and keyed for) the tenant
 * ```
 */
export function createScopeContext(): ScopeContext {
  const storage = new AsyncLocalStorage<string>();
  return {
    run<T>(scope: string, fn: () => T): T {
      contextBytes(scope, "scope");
      return storage.run(scope, fn);
    },
    current(): string | undefined {
      return storage.getStore();
    },
  };
}
