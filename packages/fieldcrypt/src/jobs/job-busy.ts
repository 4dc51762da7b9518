/** JobBusy: the job (or every range of it) is leased by another live worker. */
import { FieldcryptError } from "../errors/index.js";

/**
 * Another worker holds the job's lease (`fieldcrypt_jobs.owner`, `lease_until`): two runners never
 * work on the same cursor at once. Retry after the lease expires (a killed worker's lease does).
 * Code `ERR_JOB_BUSY`. Exported from `fieldcrypt/jobs`.
 *
 * @example
 * ```ts
 * try { await runJob(pool, patients, { kind: "rotate", keyring, jobId }) }
 * catch (e) { if (isFieldcryptError(e, "ERR_JOB_BUSY")) log.warn("already running") }
 * ```
 */
export class JobBusy extends FieldcryptError {
  readonly jobId: string;
  constructor(jobId: string) {
    super("ERR_JOB_BUSY", `job ${JSON.stringify(jobId)} is running in another worker (its lease has not expired)`);
    this.jobId = jobId;
  }
}
