import { open } from "node:fs/promises";
import { operationError } from "./cli-error.js";

/**
 * Creates `path` with mode 0600 and writes `text`. Never overwrites or follows into an existing
 * file (`O_EXCL`): `what` names the command in that error ("keygen never overwrites a file"), and
 * `hint` says what to do instead. Other failures name the path and the error code only.
 */
export async function writeNewPrivateFile(path: string, text: string, what: string, hint: string): Promise<void> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, "wx", 0o600);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === "EEXIST") throw operationError(`${path} already exists; ${what} never overwrites a file`, hint);
    throw operationError(
      `cannot create ${path}${typeof code === "string" && /^E[A-Z]+$/.test(code) ? ` (${code})` : ""}`,
    );
  }
  try {
    await handle.chmod(0o600); // the umask may have narrowed it; never widened
    await handle.writeFile(text, "utf8");
  } finally {
    await handle.close();
  }
}
