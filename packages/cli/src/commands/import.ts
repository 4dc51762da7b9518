import { usageError } from "../internal/cli-error.js";
import type { Command } from "../internal/command.js";
import { EXIT_OK } from "../internal/exit-codes.js";
import { jobs } from "./jobs.js";

const HELP = `Usage: fieldcrypt import [--table T] [--columns a,b] [--dry-run] [options]

Brings legacy encrypted values into fieldcrypt cells: an import job (\`fieldcrypt jobs run --kind
import\`) over every configured table, or --table T. Each encrypted column to import names its
legacy format in the config (fieldcrypt/legacy: fernetFormat, aesGcmFormat, versionedJsonFormat,
cloakFormat), e.g.

  columns: { note: { type: "string", legacy: fernetFormat({ derive: { masterKey:
    process.env.LEGACY_MASTER_KEY, salt: { static: "s4lt", append: "user_id" }, iterations: 100000 } }) } }

and a table entry's importFrom: { note: "note_fernet" } imports from another column (left as it
is, for the old app and for a roll back) instead of in place. Cells already in fieldcrypt form,
NULLs and values the format does not match (plaintext) are left alone; a legacy value that does
not open (corrupt, wrong key) is recorded in fieldcrypt_job_errors and the job goes on.
\`fieldcrypt status\` counts legacy values per column; \`fieldcrypt jobs run --kind verify\` checks
the cells afterwards.

Options: those of \`fieldcrypt jobs run\` (see \`fieldcrypt jobs --help\`) except --kind:
  --table T, --columns a,b, --workers N, --batch-size N, --max-rows-per-second N, --dry-run,
  --scope S, --config FILE, --database-url URL, --keys-file FILE, --actor NAME, -h/--help
Resume with \`fieldcrypt jobs resume ID\`, retry failed rows with \`fieldcrypt jobs retry ID\`.
`;

export const importCommand: Command = {
  name: "import",
  summary: "import legacy encrypted values (Fernet, AES-GCM, versioned JSON, cloak) into cells",
  help: HELP,
  async run(argv, io) {
    if (argv.includes("--help") || argv.includes("-h")) {
      io.out(HELP);
      return EXIT_OK;
    }
    if (argv.some((a) => a === "--kind" || a.startsWith("--kind="))) {
      throw usageError("import takes no --kind", "it runs `fieldcrypt jobs run --kind import`");
    }
    return jobs.run(["run", "--kind", "import", ...argv], io);
  },
};
