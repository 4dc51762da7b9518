/**
 * Embedded PostgreSQL (PGlite, WebAssembly): in memory for the demo, or on a data directory for a
 * `pglite:DIR` database URL. Imported on first use: PGlite is large, and only these need it.
 */
import type { PGlite } from "@electric-sql/pglite";

/** A ready PGlite in memory (`dataDir` undefined) or on the data directory `dataDir`. */
export async function openPglite(dataDir?: string): Promise<PGlite> {
  const { PGlite } = await import("@electric-sql/pglite");
  const db = new PGlite(dataDir);
  await db.waitReady;
  return db;
}
