import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type CellContext, type CellValue, encrypt } from "fieldcrypt/cell";
import { DecryptionFailed } from "fieldcrypt/errors";
import { createKeyring, generateKeyString } from "fieldcrypt/keyring";
import { afterAll, describe, expect, it } from "vitest";
import { reportError } from "../dist/internal/report-error.js";
import { type CliCase, checkCase, errorLines, runCli } from "./run-cli.js";

// ---- fixtures -------------------------------------------------------------------------------

const KEY1 = generateKeyString();
const KEY2 = generateKeyString();
const ENV1 = { FIELDCRYPT_KEYS: `v1=${KEY1}` };
const ENV2 = { FIELDCRYPT_KEYS: `v2=${KEY2}` };
const ENV12 = { FIELDCRYPT_KEYS: `v1=${KEY1},v2=${KEY2}`, FIELDCRYPT_PRIMARY_KEY: "v2" };
const keyring1 = createKeyring([{ id: "v1", secret: KEY1, primary: true }]);
const keyring2 = createKeyring([{ id: "v2", secret: KEY2, primary: true }]);

const CTX: CellContext = { scope: "clinic-7", table: "clinic_notes", column: "note", rowKey: "42" };
const CTX_ARGS = ["--scope", "clinic-7", "--table", "clinic_notes", "--column", "note", "--row-key", "42"];
const CELL = encrypt(keyring1, "BP 120/80", CTX);
const CELL_V2 = encrypt(keyring2, "BP 120/80", CTX);
const BINARY_CELL = encrypt(keyring1, "BP 120/80", CTX, { form: "binary" });

/** The cell with one character in the middle changed (still well-formed base64url). */
function tamper(cell: string): string {
  const i = Math.floor(cell.length / 2);
  return `${cell.slice(0, i)}${cell[i] === "A" ? "B" : "A"}${cell.slice(i + 1)}`;
}

/** The text cell with its last `bytes` bytes cut off, re-encoded canonically. */
function truncate(cell: string, bytes: number): string {
  return `fc1.${Buffer.from(cell.slice(4), "base64url").subarray(0, -bytes).toString("base64url")}`;
}

const dir = mkdtempSync(join(tmpdir(), "fieldcrypt-cli-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function keyFile(name: string, text: string, mode: number): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  chmodSync(path, mode);
  return path;
}

const GOOD_FILE = keyFile("good.keys", `# test keys\nv1=${KEY1}\n`, 0o600);
const OPEN_FILE = keyFile("open.keys", `v1=${KEY1}\n`, 0o644);
const TWO_KEYS_FILE = keyFile("two.keys", `v1=${KEY1}\nv2=${KEY2}\nprimary=v2\n`, 0o600);
const BAD_PRIMARY_FILE = keyFile("bad-primary.keys", `v1=${KEY1}\nprimary=v9\n`, 0o600);
const MISSING_FILE = join(dir, "missing.keys");

const DECRYPTION_FAILED = errorLines(
  "decryption failed",
  "the cell was sealed with another key or for another --scope, --table, --column or --row-key, or it was altered",
);
const INVALID_CELL_HINT =
  "pass the cell exactly as stored (text cells start with fc1.); `fieldcrypt inspect` checks a cell's header";
const NOT_A_CELL = errorLines(
  "not a fieldcrypt cell (expected a binary cell starting with 0xFC, or text starting with fc1.)",
  INVALID_CELL_HINT,
);
const KEYRING_HINT =
  "FIELDCRYPT_KEYS and key files hold entries like v1=FIELDCRYPT-SECRET-KEY-1-… separated by commas or newlines; make one with `fieldcrypt keygen --id v1`";
const KEY_HINT =
  "a key string is FIELDCRYPT-SECRET-KEY-1- followed by 43 base64url characters; make one with `fieldcrypt keygen`";
const CONTEXT_HINT = "--table, --column, --scope and --row-key take non-empty values of at most 1024 UTF-8 bytes";
const KEY_STRING_RE = "FIELDCRYPT-SECRET-KEY-1-[A-Za-z0-9_-]{43}";
const INSPECT_TEXT = `form        text
version     1
algorithm   XAES-256-GCM
key id      v1
value type  string
payload     9 bytes
cell        56 bytes (79 characters as text)
`;

// ---- the table ------------------------------------------------------------------------------

const cases: CliCase[] = [
  // top level
  {
    name: "no command",
    args: [],
    exit: 2,
    stderr: errorLines("no command given", "run `fieldcrypt --help` to list the commands"),
  },
  {
    name: "--help lists the commands and the exit codes",
    args: ["--help"],
    exit: 0,
    stdout:
      /^Usage: fieldcrypt <command>[\s\S]*\n {2}demo {5}[\s\S]*\n {2}keygen {3}[\s\S]*\n {2}encrypt {2}[\s\S]*\n {2}decrypt {2}[\s\S]*\n {2}inspect {2}[\s\S]*\n {2}keys {5}[\s\S]*\n {2}audit {4}[\s\S]*Exit codes:\n {2}0 {2}success\n {2}1 {2}operation failed[^\n]*\n {2}2 {2}usage error[^\n]*\n {2}3 {2}configuration error/,
  },
  { name: "-h", args: ["-h"], exit: 0, stdout: /^Usage: fieldcrypt <command>/ },
  { name: "help encrypt", args: ["help", "encrypt"], exit: 0, stdout: /^Usage: fieldcrypt encrypt / },
  {
    name: "--version",
    args: ["--version"],
    exit: 0,
    stdout: /^fieldcrypt \d+\.\d+\.\d+ \(library \d+\.\d+\.\d+, node v\d+/,
  },
  {
    name: "unknown command",
    args: ["frobnicate"],
    exit: 2,
    stderr: errorLines(
      "unknown command frobnicate",
      "the commands are demo, keygen, encrypt, decrypt, inspect, status, jobs, import, keys, audit; run `fieldcrypt --help`",
    ),
  },
  {
    name: "option before the command",
    args: ["--table", "t"],
    exit: 2,
    stderr: /^fieldcrypt: error: unknown option --table \(options go after the command\)\n/,
  },
  ...["keygen", "encrypt", "decrypt", "inspect", "demo"].flatMap((command): CliCase[] => [
    {
      name: `${command} --help`,
      args: [command, "--help"],
      exit: 0,
      stdout: new RegExp(`^Usage: fieldcrypt ${command}\\b[\\s\\S]*-h, --help`),
    },
    // --help wins over everything else on the line, even a mistake
    { name: `${command} -h with a bad flag`, args: [command, "--bogus", "-h"], exit: 0, stdout: /^Usage: / },
  ]),
  {
    name: "decrypt --help documents the rendering of each value type",
    args: ["decrypt", "--help"],
    exit: 0,
    stdout: /bytes {5}standard base64[\s\S]*json {6}compact JSON[\s\S]*date {6}ISO 8601/,
  },

  // usage errors (exit 2)
  {
    name: "unknown flag",
    args: ["encrypt", ...CTX_ARGS, "--bogus"],
    env: ENV1,
    stdin: "x",
    exit: 2,
    stderr: errorLines("unknown option --bogus for `fieldcrypt encrypt`", "run `fieldcrypt encrypt --help`"),
  },
  {
    name: "boolean flag with a value",
    args: ["inspect", "--json=yes", CELL],
    exit: 2,
    stderr: errorLines("option --json takes no value", "run `fieldcrypt inspect --help`"),
  },
  {
    name: "missing --table",
    args: ["encrypt", "--column", "note"],
    env: ENV1,
    stdin: "x",
    exit: 2,
    stderr: errorLines("missing --table", "run `fieldcrypt encrypt --help`"),
  },
  {
    name: "missing --column",
    args: ["decrypt", "--table", "clinic_notes"],
    env: ENV1,
    stdin: CELL,
    exit: 2,
    stderr: errorLines("missing --column", "run `fieldcrypt decrypt --help`"),
  },
  {
    name: "flag without its value",
    args: ["encrypt", "--column", "note", "--table"],
    exit: 2,
    stderr: errorLines("option --table needs a value", "run `fieldcrypt encrypt --help`"),
  },
  {
    name: "flag followed by another flag",
    args: ["encrypt", "--table", "--column", "note"],
    exit: 2,
    stderr: errorLines("option --table needs a value", "write --table=VALUE for a value that starts with -"),
  },
  {
    name: "flag given twice",
    args: ["encrypt", "--table", "a", "--table", "b", "--column", "c"],
    exit: 2,
    stderr: errorLines("option --table is given more than once", "run `fieldcrypt encrypt --help`"),
  },
  {
    name: "encrypt takes no positional value",
    args: ["encrypt", ...CTX_ARGS, "BP 120/80"],
    env: ENV1,
    exit: 2,
    stderr: errorLines(
      "unexpected argument for `fieldcrypt encrypt`",
      "encrypt reads the value from standard input, e.g. echo VALUE | fieldcrypt encrypt …",
    ),
  },
  {
    name: "unknown algorithm",
    args: ["encrypt", ...CTX_ARGS, "--algorithm", "ROT13"],
    env: ENV1,
    stdin: "x",
    exit: 2,
    stderr: errorLines("unknown --algorithm", "--algorithm takes XAES-256-GCM (the default) or AES-256-GCM"),
  },
  {
    name: "empty --table",
    args: ["encrypt", "--table=", "--column", "note"],
    env: ENV1,
    stdin: "x",
    exit: 2,
    stderr: new RegExp(
      `^fieldcrypt: error: context\\.table must be a non-empty string[^\\n]*\\nfieldcrypt: hint: ${CONTEXT_HINT}\\n$`,
    ),
  },
  {
    name: "--scope over 1024 bytes",
    args: ["encrypt", "--table", "t", "--column", "c", "--scope", "s".repeat(1025)],
    env: ENV1,
    stdin: "x",
    exit: 2,
    stderr: errorLines("context.scope must be at most 1024 UTF-8 bytes (got 1025)", CONTEXT_HINT),
  },
  {
    name: "keygen --id with a bad id",
    args: ["keygen", "--id", "v 1"],
    exit: 2,
    stderr: errorLines("--id must be 1-32 characters of A-Z a-z 0-9 . _ -", "for example: --id v1"),
  },
  {
    name: "decrypt with an empty stdin",
    args: ["decrypt", ...CTX_ARGS],
    env: ENV1,
    stdin: "  \n",
    exit: 2,
    stderr: errorLines("no cell on standard input", "pipe a cell in: … | fieldcrypt decrypt"),
  },
  {
    name: "inspect with two cells",
    args: ["inspect", CELL, CELL],
    exit: 2,
    stderr: errorLines("unexpected argument for `fieldcrypt inspect`", "run `fieldcrypt inspect --help`"),
  },
  {
    name: "--keys-file given a key instead of a path",
    args: ["encrypt", ...CTX_ARGS, "--keys-file", KEY1],
    stdin: "x",
    exit: 2,
    stderr: errorLines(
      "--keys-file takes the path of a key file, not a key",
      "put keys in FIELDCRYPT_KEYS, or in a file made with `fieldcrypt keygen --id v1 --out FILE`",
    ),
  },

  // configuration errors (exit 3)
  {
    name: "no keys at all",
    args: ["encrypt", ...CTX_ARGS],
    stdin: "x",
    exit: 3,
    stderr: errorLines(
      "no keys: FIELDCRYPT_KEYS is not set and no --keys-file was given",
      "run `fieldcrypt keygen --id v1` and set FIELDCRYPT_KEYS to its output, or pass --keys-file",
    ),
  },
  {
    name: "bad key string (too short)",
    args: ["encrypt", ...CTX_ARGS],
    env: { FIELDCRYPT_KEYS: "v1=FIELDCRYPT-SECRET-KEY-1-short" },
    stdin: "x",
    exit: 3,
    stderr: errorLines(
      "key v1: key string must be FIELDCRYPT-SECRET-KEY-1- followed by 43 base64url characters (32 bytes) (got 5 characters after the prefix, or characters outside base64url)",
      KEY_HINT,
    ),
  },
  {
    name: "keyring entry without an id",
    args: ["decrypt", ...CTX_ARGS],
    env: { FIELDCRYPT_KEYS: KEY1 },
    stdin: CELL,
    exit: 3,
    stderr: errorLines(
      "FIELDCRYPT_KEYS entry #1 is not of the form id=FIELDCRYPT-SECRET-KEY-1-… or primary=id",
      KEYRING_HINT,
    ),
  },
  {
    name: "two keys and no primary",
    args: ["encrypt", ...CTX_ARGS],
    env: { FIELDCRYPT_KEYS: `v1=${KEY1},v2=${KEY2}` },
    stdin: "x",
    exit: 3,
    stderr: errorLines(
      "keyring has no primary key",
      "name the key to encrypt with: set FIELDCRYPT_PRIMARY_KEY=ID or add a primary=ID entry (a new key: `fieldcrypt keygen --id v1`)",
    ),
  },
  {
    name: "FIELDCRYPT_PRIMARY_KEY names a missing key",
    args: ["encrypt", ...CTX_ARGS],
    env: { ...ENV1, FIELDCRYPT_PRIMARY_KEY: "v9" },
    stdin: "x",
    exit: 3,
    stderr: errorLines(
      'FIELDCRYPT_PRIMARY_KEY names a key id that is not among the keys of FIELDCRYPT_KEYS (its key ids: "v1")',
      KEYRING_HINT,
    ),
  },
  {
    name: "a key file's primary= names a missing key",
    args: ["encrypt", ...CTX_ARGS, "--keys-file", BAD_PRIMARY_FILE],
    stdin: "x",
    exit: 3,
    stderr: errorLines(
      `the primary= entry names a key id that is not among the keys of key file ${BAD_PRIMARY_FILE} (its key ids: "v1")`,
      KEYRING_HINT,
    ),
  },
  {
    name: "key file readable by others (0644)",
    args: ["encrypt", ...CTX_ARGS, "--keys-file", OPEN_FILE],
    stdin: "x",
    exit: 3,
    stderr: errorLines(
      `key file ${OPEN_FILE} is accessible by group or others (mode 0644); run: chmod 600 ${OPEN_FILE}`,
      "a key file must be readable by its owner only, like an ssh private key",
    ),
  },
  {
    name: "key file that does not exist",
    args: ["decrypt", ...CTX_ARGS, "--keys-file", MISSING_FILE],
    stdin: CELL,
    exit: 3,
    stderr: errorLines(
      `key file ${MISSING_FILE} does not exist`,
      "make one with `fieldcrypt keygen --id v1 --out FILE`",
    ),
  },

  // operation failures (exit 1)
  {
    name: "wrong scope",
    args: ["decrypt", "--scope", "clinic-9", "--table", "clinic_notes", "--column", "note", "--row-key", "42"],
    env: ENV1,
    stdin: CELL,
    exit: 1,
  },
  {
    name: "wrong table",
    args: ["decrypt", "--scope", "clinic-7", "--table", "other", "--column", "note", "--row-key", "42"],
    env: ENV1,
    stdin: CELL,
    exit: 1,
  },
  {
    name: "wrong column",
    args: ["decrypt", "--scope", "clinic-7", "--table", "clinic_notes", "--column", "x", "--row-key", "42"],
    env: ENV1,
    stdin: CELL,
    exit: 1,
  },
  {
    name: "wrong row key",
    args: ["decrypt", "--scope", "clinic-7", "--table", "clinic_notes", "--column", "note", "--row-key", "43"],
    env: ENV1,
    stdin: CELL,
    exit: 1,
  },
  {
    name: "missing row key",
    args: ["decrypt", "--scope", "clinic-7", "--table", "clinic_notes", "--column", "note"],
    env: ENV1,
    stdin: CELL,
    exit: 1,
  },
  { name: "missing scope", args: ["decrypt", ...CTX_ARGS.slice(2)], env: ENV1, stdin: CELL, exit: 1 },
  {
    name: "wrong key under the right id",
    args: ["decrypt", ...CTX_ARGS],
    env: { FIELDCRYPT_KEYS: `v1=${KEY2}` },
    stdin: CELL,
    exit: 1,
  },
  { name: "tampered cell", args: ["decrypt", ...CTX_ARGS], env: ENV1, stdin: tamper(CELL), exit: 1 },
  {
    name: "truncated cell",
    args: ["decrypt", ...CTX_ARGS],
    env: ENV1,
    stdin: truncate(CELL, 3),
    exit: 1,
  },
].map((c) => ("stderr" in c || c.exit !== 1 ? c : { ...c, stderr: DECRYPTION_FAILED }));

cases.push(
  {
    name: "garbage cell",
    args: ["decrypt", ...CTX_ARGS],
    env: ENV1,
    stdin: "hello world\n",
    exit: 1,
    stderr: NOT_A_CELL,
  },
  {
    name: "cell with characters outside base64url",
    args: ["decrypt", ...CTX_ARGS],
    env: ENV1,
    stdin: "fc1.abc$def",
    exit: 1,
    stderr:
      /^fieldcrypt: error: text cell is not [a-z ]*base64url after the fc1\. prefix\nfieldcrypt: hint: pass the cell exactly as stored/,
  },
  {
    name: "cell on a key the keyring lacks",
    args: ["decrypt", ...CTX_ARGS],
    env: ENV1,
    stdin: CELL_V2,
    exit: 1,
    stderr: errorLines(
      'key "v2" is not in the keyring',
      "add the key with that id to FIELDCRYPT_KEYS or to the --keys-file (old keys stay in the keyring to decrypt)",
    ),
  },
  {
    name: "stdin that is not UTF-8",
    args: ["encrypt", ...CTX_ARGS],
    env: ENV1,
    stdin: Buffer.from([0x66, 0xff, 0xfe, 0x0a]),
    exit: 1,
    stderr: errorLines(
      "standard input is not valid UTF-8 text",
      "the CLI encrypts text; encode binary data first (e.g. base64)",
    ),
  },
  { name: "inspect garbage", args: ["inspect", "nope"], exit: 1, stderr: NOT_A_CELL },

  // successes
  { name: "decrypt", args: ["decrypt", ...CTX_ARGS], env: ENV1, stdin: `${CELL}\n`, exit: 0, stdout: "BP 120/80\n" },
  {
    name: "decrypt a cell given as argument, with surrounding whitespace",
    args: ["decrypt", ...CTX_ARGS, ` ${CELL}\n`],
    env: ENV1,
    exit: 0,
    stdout: "BP 120/80\n",
  },
  {
    name: "decrypt with keys from a 0600 key file",
    args: ["decrypt", ...CTX_ARGS, "--keys-file", GOOD_FILE],
    stdin: CELL,
    exit: 0,
    stdout: "BP 120/80\n",
  },
  {
    name: "decrypt an old-key cell with a two-key keyring",
    args: ["decrypt", ...CTX_ARGS],
    env: ENV12,
    stdin: CELL,
    exit: 0,
    stdout: "BP 120/80\n",
  },
  {
    name: "decrypt a binary cell from stdin",
    args: ["decrypt", ...CTX_ARGS],
    env: ENV1,
    stdin: BINARY_CELL,
    exit: 0,
    stdout: "BP 120/80\n",
  },
  {
    name: "decrypt a bytea cell as psql prints it",
    args: ["decrypt", ...CTX_ARGS, `\\x${BINARY_CELL.toString("hex")}`],
    env: ENV1,
    exit: 0,
    stdout: "BP 120/80\n",
  },
  {
    name: "decrypt with a composite row key",
    args: ["decrypt", "--table", "t", "--column", "c", "--row-key", "7", "--row-key", "abc"],
    env: ENV1,
    stdin: encrypt(keyring1, "composite", { table: "t", column: "c", rowKey: [7, "abc"] }),
    exit: 0,
    stdout: "composite\n",
  },
  {
    name: "decrypt with the composite row key parts swapped",
    args: ["decrypt", "--table", "t", "--column", "c", "--row-key", "abc", "--row-key", "7"],
    env: ENV1,
    stdin: encrypt(keyring1, "composite", { table: "t", column: "c", rowKey: [7, "abc"] }),
    exit: 1,
    stderr: DECRYPTION_FAILED,
  },
  { name: "inspect a cell argument", args: ["inspect", CELL], exit: 0, stdout: INSPECT_TEXT },
  { name: "inspect a cell on stdin", args: ["inspect"], stdin: `${CELL}\n`, exit: 0, stdout: INSPECT_TEXT },
  {
    name: "inspect --json",
    args: ["inspect", "--json", CELL],
    exit: 0,
    stdout: `{"form":"text","version":1,"algorithm":"XAES-256-GCM","keyId":"v1","type":"string","payloadBytes":9,"cellBytes":56}\n`,
  },
  {
    name: "inspect a binary cell",
    args: ["inspect"],
    stdin: BINARY_CELL,
    exit: 0,
    stdout: /^form {8}binary\n[\s\S]*\ncell {8}56 bytes\n$/,
  },
  {
    name: "inspect needs no keys even when the keys are broken",
    args: ["inspect", CELL_V2],
    env: { FIELDCRYPT_KEYS: "garbage" },
    exit: 0,
    stdout: /^form {8}text\n[\s\S]*key id {6}v2\n/,
  },
  { name: "keygen", args: ["keygen"], exit: 0, stdout: new RegExp(`^${KEY_STRING_RE}\\n$`) },
  { name: "keygen --id", args: ["keygen", "--id", "v1"], exit: 0, stdout: new RegExp(`^v1=${KEY_STRING_RE}\\n$`) },
);

// Each value type renders as documented in `decrypt --help`.
const rendered: [string, CellValue, string][] = [
  ["string", "plain text", "plain text\n"],
  ["empty string", "", "\n"],
  ["multi-line string", "line 1\nline 2\n", "line 1\nline 2\n\n"],
  ["unicode", "Zoë • 東京 • 🩺", "Zoë • 東京 • 🩺\n"],
  ["bytes", new Uint8Array([0, 1, 2, 253, 254, 255]), "AAEC/f7/\n"],
  ["json", { a: [1, "x"], b: null, c: { d: true } }, '{"a":[1,"x"],"b":null,"c":{"d":true}}\n'],
  ["number", 3.25, "3.25\n"],
  ["negative zero", -0, "-0\n"],
  ["NaN", Number.NaN, "NaN\n"],
  ["bigint", 12345678901234567890n, "12345678901234567890\n"],
  ["boolean", false, "false\n"],
  ["date", new Date(Date.UTC(2024, 4, 1, 9, 30)), "2024-05-01T09:30:00.000Z\n"],
];
for (const [type, value, stdout] of rendered) {
  cases.push({
    name: `decrypt renders ${type}`,
    args: ["decrypt", ...CTX_ARGS],
    env: ENV1,
    stdin: encrypt(keyring1, value, CTX),
    exit: 0,
    stdout,
  });
}

describe("fieldcrypt CLI", () => {
  it.concurrent.each(cases.map((c) => [c.name, c] as const))("%s", async (_name, c) => {
    await checkCase(c);
  });
});

// ---- round trips through the CLI ------------------------------------------------------------

describe("encrypt → decrypt through the CLI", () => {
  for (const algorithm of ["XAES-256-GCM", "AES-256-GCM"]) {
    it.concurrent(`round-trips with --algorithm ${algorithm}`, async () => {
      const sealed = await checkCase({
        name: "encrypt",
        args: ["encrypt", ...CTX_ARGS, "--algorithm", algorithm],
        env: ENV1,
        stdin: "BP 120/80\n",
        exit: 0,
        stdout: /^fc1\.[A-Za-z0-9_-]+\n$/,
      });
      await checkCase({
        name: "inspect",
        args: ["inspect", "--json"],
        stdin: sealed.stdout,
        exit: 0,
        stdout: `{"form":"text","version":1,"algorithm":"${algorithm}","keyId":"v1","type":"string","payloadBytes":9,"cellBytes":${algorithm === "AES-256-GCM" ? 44 : 56}}\n`,
      });
      await checkCase({
        name: "decrypt",
        args: ["decrypt", ...CTX_ARGS],
        env: ENV1,
        stdin: sealed.stdout,
        exit: 0,
        stdout: "BP 120/80\n",
      });
      await checkCase({
        name: "decrypt in another row",
        args: ["decrypt", ...CTX_ARGS.slice(0, -1), "43"],
        env: ENV1,
        stdin: sealed.stdout,
        exit: 1,
        stderr: DECRYPTION_FAILED,
      });
    });
  }

  const values: [string, string, string][] = [
    ["echo's trailing newline is stripped, decrypt adds it back", "hi\n", "hi\n"],
    ["only one trailing newline is stripped", "hi\n\n", "hi\n\n"],
    ["a value without a newline", "hi", "hi\n"],
    ["the empty value", "", "\n"],
    ["unicode and inner newlines", "Zoë\n東京 🩺\n", "Zoë\n東京 🩺\n"],
  ];
  for (const [name, stdin, stdout] of values) {
    it.concurrent(name, async () => {
      const sealed = await runCli(["encrypt", "--table", "journal_entries", "--column", "body"], { env: ENV1, stdin });
      expect(sealed).toMatchObject({ exit: 0, stderr: "" });
      await checkCase({
        name,
        args: ["decrypt", "--table", "journal_entries", "--column", "body"],
        env: ENV1,
        stdin: sealed.stdout,
        exit: 0,
        stdout,
      });
    });
  }

  it.concurrent("encrypts with FIELDCRYPT_PRIMARY_KEY and decrypts with the whole keyring", async () => {
    const sealed = await runCli(["encrypt", ...CTX_ARGS], { env: ENV12, stdin: "x" });
    expect(sealed.exit).toBe(0);
    await checkCase({ name: "", args: ["inspect", sealed.stdout], exit: 0, stdout: /\nkey id {6}v2\n/ });
    await checkCase({
      name: "",
      args: ["decrypt", ...CTX_ARGS],
      env: ENV2,
      stdin: sealed.stdout,
      exit: 0,
      stdout: "x\n",
    });
    await checkCase({
      name: "",
      args: ["decrypt", ...CTX_ARGS],
      env: ENV1,
      stdin: sealed.stdout,
      exit: 1,
      stderr: /^fieldcrypt: error: key "v2" is not in the keyring\n/,
    });
  });

  it.concurrent("encrypts with the primary named in a key file", async () => {
    const sealed = await runCli(["encrypt", ...CTX_ARGS, "--keys-file", TWO_KEYS_FILE], { stdin: "x" });
    expect(sealed).toMatchObject({ exit: 0, stderr: "" });
    await checkCase({ name: "", args: ["inspect", sealed.stdout], exit: 0, stdout: /\nkey id {6}v2\n/ });
  });

  it.concurrent("two encryptions of one value differ", async () => {
    const [a, b] = await Promise.all([
      runCli(["encrypt", ...CTX_ARGS], { env: ENV1, stdin: "same" }),
      runCli(["encrypt", ...CTX_ARGS], { env: ENV1, stdin: "same" }),
    ]);
    expect(a?.exit).toBe(0);
    expect(a?.stdout).not.toBe(b?.stdout);
  });
});

// ---- keygen --out ---------------------------------------------------------------------------

describe("keygen --out", () => {
  it("creates the file with mode 0600 and prints nothing secret", async () => {
    const path = join(dir, "new.keys");
    await checkCase({
      name: "",
      args: ["keygen", "--id", "v1", "--out", path],
      exit: 0,
      stdout: `wrote new key v1 to ${path}\n`,
    });
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readFileSync(path, "utf8")).toMatch(new RegExp(`^v1=${KEY_STRING_RE}\\n$`));
    // The file is a key file the other commands accept.
    const sealed = await runCli(["encrypt", ...CTX_ARGS, "--keys-file", path], { stdin: "from file" });
    expect(sealed).toMatchObject({ exit: 0, stderr: "" });
    await checkCase({
      name: "",
      args: ["decrypt", ...CTX_ARGS, "--keys-file", path],
      stdin: sealed.stdout,
      exit: 0,
      stdout: "from file\n",
    });
  });

  it("writes a bare key string without --id", async () => {
    const path = join(dir, "bare.key");
    await checkCase({ name: "", args: ["keygen", "--out", path], exit: 0, stdout: `wrote new key to ${path}\n` });
    expect(readFileSync(path, "utf8")).toMatch(new RegExp(`^${KEY_STRING_RE}\\n$`));
  });

  it("never overwrites an existing file", async () => {
    const path = keyFile("existing.keys", "precious\n", 0o600);
    await checkCase({
      name: "",
      args: ["keygen", "--id", "v2", "--out", path],
      exit: 1,
      stderr: errorLines(
        `${path} already exists; keygen never overwrites a file`,
        "choose another --out FILE, or move the old file away first if you really mean to replace that key",
      ),
    });
    expect(readFileSync(path, "utf8")).toBe("precious\n");
  });

  it("reports a directory that does not exist", async () => {
    const path = join(dir, "no-such-dir", "k.keys");
    await checkCase({
      name: "",
      args: ["keygen", "--out", path],
      exit: 1,
      stderr: errorLines(`cannot create ${path} (ENOENT)`),
    });
  });
});

// ---- leaks ----------------------------------------------------------------------------------

describe("a keyring describes itself without its material", () => {
  it("String(keyring) counts its keys in the right number", () => {
    expect(String(keyring1)).toBe("Keyring(1 key, material redacted)");
    expect(
      String(
        createKeyring([
          { id: "v1", secret: KEY1 },
          { id: "v2", secret: KEY2, primary: true },
        ]),
      ),
    ).toBe("Keyring(2 keys, material redacted)");
  });
});

describe("the CLI never prints plaintext or key material where it should not", () => {
  const PLAINTEXT = "CANARY-PLAINTEXT-7f3a";
  const KEY_BODY = "CANARYkeyMaterial7f3aCANARYkeyMaterial7f3aA"; // 43 base64url characters
  const CANARY_KEY = `FIELDCRYPT-SECRET-KEY-1-${KEY_BODY}`;
  const canaryKeyring = createKeyring([{ id: "c1", secret: CANARY_KEY, primary: true }]);
  const CANARY_ENV = { FIELDCRYPT_KEYS: `c1=${CANARY_KEY}` };
  const canaryCell = encrypt(canaryKeyring, PLAINTEXT, CTX);
  const canaryFile = keyFile("canary.keys", `c1=${CANARY_KEY}\n`, 0o600);
  const canaryOpenFile = keyFile("canary-open.keys", `c1=${CANARY_KEY}\n`, 0o644);
  const canaryShortFile = keyFile("canary-short.keys", `c1=${CANARY_KEY.slice(0, -1)}\n`, 0o600);

  /** Any recognisable piece of the canaries. */
  const CANARIES = [PLAINTEXT, "CANARY-PLAINTEXT", CANARY_KEY, KEY_BODY, "CANARYkey", "keyMaterial"];

  const paths: { name: string; args: string[]; env?: Record<string, string>; stdin?: string }[] = [
    {
      name: "wrong scope",
      args: ["decrypt", "--scope", "clinic-9", ...CTX_ARGS.slice(2)],
      env: CANARY_ENV,
      stdin: canaryCell,
    },
    { name: "wrong row", args: ["decrypt", ...CTX_ARGS.slice(0, -1), "1"], env: CANARY_ENV, stdin: canaryCell },
    { name: "two row keys", args: ["decrypt", ...CTX_ARGS, "--row-key=1"], env: CANARY_ENV, stdin: canaryCell },
    { name: "tampered cell", args: ["decrypt", ...CTX_ARGS], env: CANARY_ENV, stdin: tamper(canaryCell) },
    { name: "truncated cell", args: ["decrypt", ...CTX_ARGS], env: CANARY_ENV, stdin: truncate(canaryCell, 5) },
    { name: "cut text cell", args: ["decrypt", ...CTX_ARGS], env: CANARY_ENV, stdin: canaryCell.slice(0, 61) },
    { name: "plaintext given as the cell", args: ["decrypt", ...CTX_ARGS, PLAINTEXT], env: CANARY_ENV },
    { name: "plaintext piped to decrypt", args: ["decrypt", ...CTX_ARGS], env: CANARY_ENV, stdin: PLAINTEXT },
    { name: "plaintext piped to inspect", args: ["inspect"], stdin: `${PLAINTEXT}\n` },
    { name: "plaintext given to inspect", args: ["inspect", PLAINTEXT] },
    { name: "plaintext as a positional", args: ["encrypt", ...CTX_ARGS, PLAINTEXT], env: CANARY_ENV },
    { name: "plaintext as a command", args: [PLAINTEXT] },
    { name: "plaintext as a flag", args: ["encrypt", `--${PLAINTEXT}`], env: CANARY_ENV, stdin: PLAINTEXT },
    { name: "plaintext as a flag value", args: ["encrypt", `--bogus=${PLAINTEXT}`], env: CANARY_ENV, stdin: "x" },
    { name: "plaintext as an algorithm", args: ["encrypt", ...CTX_ARGS, "--algorithm", PLAINTEXT], stdin: "x" },
    { name: "plaintext as a key id", args: ["keygen", "--id", `${PLAINTEXT} x`] },
    {
      name: "plaintext in an oversized scope",
      args: ["encrypt", "--table", "t", "--column", "c", "--scope", PLAINTEXT.repeat(60)],
      env: CANARY_ENV,
      stdin: PLAINTEXT,
    },
    {
      name: "plaintext in an empty table",
      args: ["encrypt", "--table=", "--column", "c"],
      env: CANARY_ENV,
      stdin: PLAINTEXT,
    },
    { name: "plaintext with no keys", args: ["encrypt", ...CTX_ARGS], stdin: PLAINTEXT },
    {
      name: "plaintext as FIELDCRYPT_KEYS",
      args: ["encrypt", ...CTX_ARGS],
      env: { FIELDCRYPT_KEYS: PLAINTEXT },
      stdin: "x",
    },
    {
      // A value that is a well-formed key id is named in the message (ids are safe to print); one that is not, never.
      name: "plaintext as FIELDCRYPT_PRIMARY_KEY",
      args: ["encrypt", ...CTX_ARGS],
      env: { ...CANARY_ENV, FIELDCRYPT_PRIMARY_KEY: `${PLAINTEXT} 42` },
      stdin: "x",
    },
    { name: "cell on another key", args: ["decrypt", ...CTX_ARGS], env: ENV1, stdin: canaryCell },
    {
      name: "canary key one character short",
      args: ["encrypt", ...CTX_ARGS],
      env: { FIELDCRYPT_KEYS: `c1=${CANARY_KEY.slice(0, -1)}` },
      stdin: PLAINTEXT,
    },
    {
      name: "canary key one character long",
      args: ["decrypt", ...CTX_ARGS],
      env: { FIELDCRYPT_KEYS: `c1=${CANARY_KEY}A` },
      stdin: canaryCell,
    },
    {
      name: "canary key with a bad character",
      args: ["decrypt", ...CTX_ARGS],
      env: { FIELDCRYPT_KEYS: `c1=${CANARY_KEY.slice(0, -2)}$A` },
      stdin: canaryCell,
    },
    {
      name: "canary key without an id",
      args: ["decrypt", ...CTX_ARGS],
      env: { FIELDCRYPT_KEYS: CANARY_KEY },
      stdin: canaryCell,
    },
    {
      name: "canary key under a bad id",
      args: ["decrypt", ...CTX_ARGS],
      env: { FIELDCRYPT_KEYS: `bad id!=${CANARY_KEY}` },
      stdin: canaryCell,
    },
    {
      name: "canary keys without a primary",
      args: ["encrypt", ...CTX_ARGS],
      env: { FIELDCRYPT_KEYS: `c1=${CANARY_KEY},c2=${KEY1}` },
      stdin: PLAINTEXT,
    },
    { name: "canary key as --keys-file", args: ["encrypt", ...CTX_ARGS, "--keys-file", CANARY_KEY], stdin: PLAINTEXT },
    { name: "canary key as a flag value", args: ["encrypt", `--keys=${CANARY_KEY}`], stdin: PLAINTEXT },
    { name: "canary key as the cell", args: ["inspect", CANARY_KEY] },
    { name: "canary key as a command", args: [CANARY_KEY] },
    {
      name: "key file readable by others",
      args: ["decrypt", ...CTX_ARGS, "--keys-file", canaryOpenFile],
      stdin: canaryCell,
    },
    {
      name: "key file with a short key",
      args: ["decrypt", ...CTX_ARGS, "--keys-file", canaryShortFile],
      stdin: canaryCell,
    },
    {
      name: "server with the canary as password",
      args: ["demo", "--database-url", `postgres://u:${PLAINTEXT}@127.0.0.1:1/db`],
      env: CANARY_ENV,
    },
    { name: "canary as a database URL", args: ["demo", "--database-url", PLAINTEXT], env: CANARY_ENV },
  ];

  it.concurrent.each(paths.map((p) => [p.name, p] as const))("error path: %s", async (_name, p) => {
    const result = await runCli(p.args, {
      ...(p.env === undefined ? {} : { env: p.env }),
      ...(p.stdin === undefined ? {} : { stdin: p.stdin }),
    });
    expect(result.exit).not.toBe(0);
    expect(result.stderr).toMatch(/^fieldcrypt: error: /);
    for (const canary of CANARIES) {
      expect(result.stderr).not.toContain(canary);
      expect(result.stdout).not.toContain(canary);
    }
  });

  it.concurrent("decrypt prints the plaintext (its job), and encrypt does not", async () => {
    const sealed = await runCli(["encrypt", ...CTX_ARGS, "--keys-file", canaryFile], { stdin: `${PLAINTEXT}\n` });
    expect(sealed).toMatchObject({ exit: 0, stderr: "" });
    for (const canary of CANARIES) expect(sealed.stdout).not.toContain(canary);
    const opened = await runCli(["decrypt", ...CTX_ARGS], { env: CANARY_ENV, stdin: sealed.stdout });
    expect(opened).toEqual({ exit: 0, stdout: `${PLAINTEXT}\n`, stderr: "" });
    const inspected = await runCli(["inspect", "--json", sealed.stdout]);
    for (const canary of CANARIES) expect(inspected.stdout + inspected.stderr).not.toContain(canary);
  });

  it("an unexpected error is reduced to its name, unless FIELDCRYPT_DEBUG=1", () => {
    const capture = (env: Record<string, string>) => {
      let err = "";
      const io = {
        env,
        readStdin: () => Promise.resolve(Buffer.alloc(0)),
        stdinIsTTY: false,
        stdoutIsTTY: false,
        out: () => {},
        err: (text: string) => {
          err += text;
        },
      };
      return { io, stderr: () => err };
    };
    const quiet = capture({});
    expect(reportError(new TypeError(`cannot read ${PLAINTEXT} with ${CANARY_KEY}`), quiet.io)).toBe(1);
    expect(quiet.stderr()).toBe(
      errorLines(
        "unexpected failure (TypeError)",
        "set FIELDCRYPT_DEBUG=1 to print the full error (it may contain data)",
      ),
    );
    const withCode = capture({});
    reportError(Object.assign(new Error(PLAINTEXT), { code: "ECONNRESET" }), withCode.io);
    expect(withCode.stderr()).toMatch(/^fieldcrypt: error: unexpected failure \(Error ECONNRESET\)\n/);
    const weird = capture({});
    reportError(
      Object.assign(new Error("x"), { name: PLAINTEXT.replaceAll("-", " "), code: `${PLAINTEXT} x` }),
      weird.io,
    );
    expect(weird.stderr()).toMatch(/^fieldcrypt: error: unexpected failure \(Error\)\n/);

    const debug = capture({ FIELDCRYPT_DEBUG: "1" });
    reportError(new TypeError(`details ${PLAINTEXT}`), debug.io);
    expect(debug.stderr()).toMatch(/^fieldcrypt: error: unexpected failure \(TypeError\)\nTypeError: details CANARY/);

    // A fieldcrypt error never comes with a stack, even with FIELDCRYPT_DEBUG=1.
    const typed = capture({ FIELDCRYPT_DEBUG: "1" });
    expect(reportError(new DecryptionFailed(), typed.io)).toBe(1);
    expect(typed.stderr()).toBe(DECRYPTION_FAILED);
  });
});
