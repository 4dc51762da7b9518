import { type Keyring, type LoadLocalKeyringOptions, loadKeyringFile, loadKeyringFromEnv } from "fieldcrypt/keyring";
import { configError, usageError } from "./cli-error.js";
import type { Io } from "./io.js";

/** Where a command's keyring came from, for messages. */
export interface LoadedKeys {
  readonly keyring: Keyring;
  /** `"FIELDCRYPT_KEYS"` or `"key file <path>"`. */
  readonly source: string;
}

export const NO_KEYS_HINT =
  "run `fieldcrypt keygen --id v1` and set FIELDCRYPT_KEYS to its output, or pass --keys-file";

/**
 * Loads the keyring from `--keys-file` when given, else from FIELDCRYPT_KEYS (and
 * FIELDCRYPT_PRIMARY_KEY). Library errors propagate; file-system errors become config errors.
 * `decrypt` passes `{ requirePrimary: false }`: reading needs no primary key.
 */
export async function loadKeys(
  keysFile: string | undefined,
  io: Io,
  options: LoadLocalKeyringOptions = {},
): Promise<LoadedKeys> {
  if (keysFile !== undefined) {
    // A key string pasted where a path belongs must not be echoed back in "cannot read …".
    if (keysFile.includes("SECRET-KEY")) {
      throw usageError(
        "--keys-file takes the path of a key file, not a key",
        "put keys in FIELDCRYPT_KEYS, or in a file made with `fieldcrypt keygen --id v1 --out FILE`",
      );
    }
    try {
      return { keyring: await loadKeyringFile(keysFile, options), source: `key file ${keysFile}` };
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (typeof code === "string" && /^E[A-Z]+$/.test(code)) {
        throw configError(
          code === "ENOENT" ? `key file ${keysFile} does not exist` : `cannot read key file ${keysFile} (${code})`,
          "make one with `fieldcrypt keygen --id v1 --out FILE`",
        );
      }
      throw error;
    }
  }
  const text = io.env.FIELDCRYPT_KEYS;
  if (text === undefined || text.trim() === "") {
    throw configError("no keys: FIELDCRYPT_KEYS is not set and no --keys-file was given", NO_KEYS_HINT);
  }
  return { keyring: loadKeyringFromEnv(io.env, options), source: "FIELDCRYPT_KEYS" };
}
