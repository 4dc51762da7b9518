/**
 * What each described table was created from: its keyring (for the jobs' record of runs) and its
 * options (so a job can rebuild its columns on a worker thread). Not exported.
 */
import type { Keyring } from "../keyring/keyring.js";

export const tableKeyrings = new WeakMap<object, Keyring>();
export const tableOptions = new WeakMap<object, unknown>();
