export const SUBCOMMANDS = "list, create, rotate, rotate-root, shred, export";
export const SUB_HINT = `the subcommands are ${SUBCOMMANDS}; run \`fieldcrypt keys --help\``;
export const DEFAULT_ACTOR = "fieldcrypt-cli";

export const COMMON = {
  config: { type: "string" },
  "database-url": { type: "string" },
  json: { type: "boolean" },
} as const;
export const WRITE = { ...COMMON, actor: { type: "string" } } as const;

export const LIST_FLAGS = { ...COMMON, scope: { type: "string" } } as const;
export const CREATE_FLAGS = {
  ...WRITE,
  scope: { type: "string" },
  shared: { type: "boolean" },
  primary: { type: "boolean" },
} as const;
export const ROTATE_FLAGS = { ...WRITE, scope: { type: "string" }, shared: { type: "boolean" } } as const;
export const ROTATE_ROOT_FLAGS = { ...WRITE, to: { type: "string" }, "batch-size": { type: "string" } } as const;
export const SHRED_FLAGS = {
  ...WRITE,
  scope: { type: "string" },
  yes: { type: "boolean" },
  vacuum: { type: "boolean" },
} as const;
export const EXPORT_FLAGS = { ...WRITE, out: { type: "string" } } as const;

export const HELP = `Usage: fieldcrypt keys list [--scope S] [--json]
       fieldcrypt keys create (--scope S | --shared) [--primary]
       fieldcrypt keys rotate (--scope S | --shared)
       fieldcrypt keys rotate-root [--to ROOT_ID] [--batch-size N]
       fieldcrypt keys shred --scope S --yes [--vacuum]
       fieldcrypt keys export [--out FILE]

Manages the data keys in the key table fieldcrypt_keys (fieldcrypt/key-store): random 256-bit
keys per scope (a tenant or subject; --shared: the keys shared by every scope), stored wrapped by
a root key. Nothing here prints key material: only ids, scopes, states, root key ids and dates.

  list         the inventory: id, scope, state (primary, decrypt-only, destroyed), root key, dates
  create       a scope's first data key, its primary (creates fieldcrypt_keys when missing); a
               scope that has a primary already is refused unless --primary replaces it
  rotate       a new primary data key for the scope; the old one turns decrypt-only, so the
               scope's cells stay readable until \`fieldcrypt jobs run --kind rotate\` re-encrypts
               the rows under the new key
  rotate-root  rewraps every live data key that another root key wraps under the target root key
               (--to, default: the config's first root key); no application row is touched.
               Safe to re-run: a stopped rotation resumes, only keys still under an old root key
               are rewrapped. Progress: a bar on a terminal, JSON lines otherwise
  shred        crypto-shreds a scope: destroys all its data keys, so its cells can never be
               decrypted again (ERR_KEY_DESTROYED), and deletes the job errors naming its rows.
               Irreversible; refused without --yes. --vacuum then rewrites the key table (VACUUM
               FULL), so no old row version keeps a wrapped key (the WAL and backups still do)
  export       the inventory as JSON for auditors, on stdout or in a new file (mode 0600)

Options:
  --scope S            the scope (tenant/subject id)
  --shared             the shared keys (no scope) instead of --scope
  --primary            create: make the new key the primary even when the scope has one
  --to ROOT_ID         rotate-root: the target root key, one of the config's rootKeys
  --batch-size N       rotate-root: data keys per batch (default 500)
  --yes                shred: confirm the destruction
  --vacuum             shred: VACUUM FULL fieldcrypt_keys and fieldcrypt_job_errors afterwards
  --out FILE           export: write to FILE (created with mode 0600, never overwritten)
  --json               print JSON instead of text
  --actor NAME         who is acting, written into audit entries (default ${DEFAULT_ACTOR})
  --config FILE        the config module (default: ./fieldcrypt.config.mjs), whose default export
                       holds rootKeys (create, rotate, rotate-root) and optionally audit: every
                       key event is then appended to fieldcrypt_audit; tables are not needed
  --database-url URL   the database (default: DATABASE_URL)
  -h, --help           show this help

Example fieldcrypt.config.mjs:
  import { createAuditor } from "fieldcrypt/audit";
  import { localRootKey } from "fieldcrypt/kms";
  export default {
    rootKeys: [localRootKey({ id: "root-2026", key: process.env.FIELDCRYPT_ROOT_KEY })],
    audit: createAuditor(process.env.FIELDCRYPT_AUDIT_KEY),
  };
`;
