/** The keyring each described table was created with (for the jobs' record of runs). Not exported. */
import type { Keyring } from "../keyring/keyring.js";

export const tableKeyrings = new WeakMap<object, Keyring>();
