import { failureKind } from "../errors/foreign.js";
import { InvalidOption } from "../errors/index.js";
import type { Queryable } from "../internal/db-port.js";
import { cacheHeldIds, cacheRevoke, type KeyCache } from "./cache.js";

/** The channel {@link shredScope} notifies (payload empty: the watcher asks the table what changed). */
export const SHRED_CHANNEL = "fieldcrypt_shred";

/** A connection that can LISTEN: a `pg.Client` (not a pool: LISTEN belongs to one session). */
export interface PgListenConnection {
  query(text: string): Promise<unknown>;
  on(event: "notification", listener: (message: { channel: string }) => void): unknown;
  removeListener(event: "notification", listener: (message: { channel: string }) => void): unknown;
}

/** PGlite's listen API (one process: a shred there reaches the watcher at once). */
export interface PgliteListenConnection {
  listen(channel: string, callback: (payload: string) => void): Promise<() => Promise<void>>;
}

/** Options of {@link watchShreds}. */
export interface WatchShredsOptions {
  /** This process's key cache: the keyrings loaded through it are the ones a shred reaches. */
  readonly cache: KeyCache;
  /**
   * A dedicated connection to LISTEN on, so a shred reaches this process within milliseconds. Without
   * one (or where LISTEN does not survive, as behind PgBouncer in transaction mode) the poll alone does.
   */
  readonly listen?: PgListenConnection | PgliteListenConnection | undefined;
  /** How often the key table is asked, in ms, notification or not (default 30 000; at least 50). */
  readonly pollMs?: number | undefined;
  /** Called with the ids destroyed in place in this process (safe to log). */
  readonly onShred?: ((ids: readonly string[]) => void) | undefined;
  /**
   * Called when a check fails (the database is unreachable, say); the watcher keeps going. Default: a
   * process warning naming the error's kind, never its message.
   */
  readonly onError?: ((error: unknown) => void) | undefined;
}

/** A running {@link watchShreds}. */
export interface ShredWatcher {
  /** Asks the key table now; resolves with the ids destroyed in place by this check. */
  check(): Promise<string[]>;
  /** Stops polling and listening (the LISTEN connection stays open: it is the app's). */
  close(): Promise<void>;
}

/**
 * Makes shreds reach this process: every keyring loaded through `cache` destroys in place the keys
 * that {@link shredScope} destroyed in any process, so their cells fail with `ERR_KEY_DESTROYED` from
 * the next decrypt on — within milliseconds of the shred with `listen`, within `pollMs` without.
 * Each check asks `fieldcrypt_keys` which of the keys this process holds are destroyed (the
 * notification is only a prompt to ask, so a missed one costs at most a poll). Exported from
 * `fieldcrypt/key-store`.
 *
 * @example
 * ```ts
 * const cache = createKeyCache();
 * const listener = new pg.Client(process.env.DATABASE_URL);
 * await listener.connect();
 * const watcher = await watchShreds(pool, { cache, listen: listener, onShred: (ids) => log.info({ ids }, "shredded") });
 * ```
 */
export async function watchShreds(db: Queryable, options: WatchShredsOptions): Promise<ShredWatcher> {
  if (typeof options !== "object" || options === null || typeof options.cache !== "object" || options.cache === null)
    throw new InvalidOption("watchShreds needs options.cache, the KeyCache its keyrings are loaded through");
  const pollMs = options.pollMs ?? 30_000;
  if (!Number.isInteger(pollMs) || pollMs < 50) throw new InvalidOption("pollMs must be an integer of at least 50");
  const onError =
    options.onError ??
    ((error: unknown) => process.emitWarning(`fieldcrypt: a shred check failed (${failureKind(error)})`));

  let running: Promise<string[]> | undefined;
  let again = false;
  const checkOnce = async (): Promise<string[]> => {
    const held = cacheHeldIds(options.cache);
    if (held.length === 0) return [];
    const { rows } = await db.query(
      "SELECT id FROM fieldcrypt_keys WHERE id = ANY($1::text[]) AND state = 'destroyed'",
      [held],
    );
    const revoked = cacheRevoke(
      options.cache,
      (rows as { id: string }[]).map((r) => r.id),
    );
    if (revoked.length > 0) options.onShred?.(revoked);
    return revoked;
  };
  // One check at a time; a prompt that arrives during one runs one more after it.
  const check = (): Promise<string[]> => {
    if (running !== undefined) {
      again = true;
      return running;
    }
    running = checkOnce().finally(() => {
      running = undefined;
      if (again) {
        again = false;
        check().catch(onError);
      }
    });
    return running;
  };
  const prompt = (): void => {
    check().catch(onError);
  };

  const timer = setInterval(prompt, pollMs);
  timer.unref();
  let unlisten: () => Promise<void> = async () => {};
  try {
    if (options.listen !== undefined) unlisten = await listenOn(options.listen, prompt);
  } catch (error) {
    clearInterval(timer);
    throw error;
  }
  return {
    check,
    async close() {
      clearInterval(timer);
      await unlisten();
    },
  };
}

async function listenOn(
  connection: PgListenConnection | PgliteListenConnection,
  prompt: () => void,
): Promise<() => Promise<void>> {
  if (typeof (connection as PgliteListenConnection).listen === "function") {
    return (connection as PgliteListenConnection).listen(SHRED_CHANNEL, prompt);
  }
  const client = connection as PgListenConnection;
  if (typeof client.on !== "function" || typeof client.query !== "function")
    throw new InvalidOption("listen must be a pg.Client (or a PGlite instance)");
  const listener = (message: { channel: string }) => {
    if (message.channel === SHRED_CHANNEL) prompt();
  };
  client.on("notification", listener);
  await client.query(`LISTEN ${SHRED_CHANNEL}`);
  return async () => {
    client.removeListener("notification", listener);
    await client.query(`UNLISTEN ${SHRED_CHANNEL}`);
  };
}
