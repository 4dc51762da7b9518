/** What every lane of a run is handed, and how it ends. Not exported. */

import type { OpenedJob } from "./job-row.js";
import type { JobPlan } from "./plan.js";
import type { JobTally } from "./tally.js";
import type { LazyTransformThreads } from "./threads.js";
import type { JobDatabase } from "./transaction.js";

/** The run's parts a lane works with: it reads the plan and the job, and feeds the tally. */
export interface LaneContext {
  readonly db: JobDatabase;
  readonly plan: JobPlan;
  readonly job: OpenedJob;
  readonly tally: JobTally;
  readonly threads: LazyTransformThreads;
}

/** A lane ends when it ran out of rows (`done`) or at a batch boundary after the signal (`stopped`). */
export type LaneStatus = "done" | "stopped";
