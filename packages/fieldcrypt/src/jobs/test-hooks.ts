/**
 * Test hooks of the job engine, behind a symbol that no `exports` entry reaches: the tests import
 * it from the source, so the hook is not part of the public `RunJobOptions`.
 *
 * @internal
 */
import type { Queryable } from "../internal/db-port.js";

/**
 * Key of a {@link RunJobOptions} hook that runs in the batch's transaction after the batch was read
 * and transformed, just before its UPDATE (where a concurrent write would race the job).
 *
 * @internal
 */
export const BEFORE_WRITE: unique symbol = Symbol("fieldcrypt.jobs.beforeWrite");

/** A batch about to be written, handed to the {@link BEFORE_WRITE} hook. @internal */
export interface BeforeWriteBatch {
  /** The transaction of the batch (a concurrent writer in a test writes elsewhere, or through it). */
  readonly tx: Queryable;
  /** Primary keys (text form) of the rows the batch read. */
  readonly keys: readonly (readonly string[])[];
  /** Primary keys (text form) of the rows the batch is about to update. */
  readonly changing: readonly (readonly string[])[];
}

/** The {@link BEFORE_WRITE} hook. @internal */
export type BeforeWrite = (batch: BeforeWriteBatch) => Promise<void> | void;
