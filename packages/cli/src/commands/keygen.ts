import { generateKeyString } from "fieldcrypt/keyring";
import { parseCommandArgs } from "../internal/args.js";
import { usageError } from "../internal/cli-error.js";
import type { Command } from "../internal/command.js";
import { EXIT_OK } from "../internal/exit-codes.js";
import { writeNewPrivateFile } from "../internal/new-file.js";

// The key id rule of fieldcrypt/keyring; checked here so a bad --id is a usage error (exit 2).
const KEY_ID_RE = /^[A-Za-z0-9._-]{1,32}$/;

const FLAGS = {
  out: { type: "string" },
  id: { type: "string" },
} as const;

const HELP = `Usage: fieldcrypt keygen [--id ID] [--out FILE]

Generates a new random 256-bit key and prints its key string:
  FIELDCRYPT-SECRET-KEY-1-<43 base64url characters>

Options:
  --id ID      print it as a keyring entry, ID=FIELDCRYPT-SECRET-KEY-1-…, ready for
               FIELDCRYPT_KEYS or a key file (ID: 1-32 characters of A-Z a-z 0-9 . _ -)
  --out FILE   write it to FILE instead (created with mode 0600; an existing file is never
               overwritten) and print only where it went
  -h, --help   show this help

Examples:
  export FIELDCRYPT_KEYS="$(fieldcrypt keygen --id v1)"
  fieldcrypt keygen --id v1 --out fieldcrypt.keys    # then: --keys-file fieldcrypt.keys
`;

export const keygen: Command = {
  name: "keygen",
  summary: "generate a new key (FIELDCRYPT-SECRET-KEY-1-…)",
  help: HELP,
  async run(argv, io) {
    const { help, flags } = parseCommandArgs(argv, FLAGS, { command: "keygen" });
    if (help) {
      io.out(HELP);
      return EXIT_OK;
    }
    if (flags.id !== undefined && !KEY_ID_RE.test(flags.id)) {
      throw usageError("--id must be 1-32 characters of A-Z a-z 0-9 . _ -", "for example: --id v1");
    }
    const key = generateKeyString();
    const line = flags.id === undefined ? key : `${flags.id}=${key}`;
    if (flags.out === undefined) {
      io.out(`${line}\n`);
      return EXIT_OK;
    }
    await writeNewPrivateFile(
      flags.out,
      `${line}\n`,
      "keygen",
      "choose another --out FILE, or move the old file away first if you really mean to replace that key",
    );
    io.out(`wrote new key${flags.id === undefined ? "" : ` ${flags.id}`} to ${flags.out}\n`);
    return EXIT_OK;
  },
};
