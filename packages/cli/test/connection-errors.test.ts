/**
 * What the CLI says when it cannot use the database URL: a URL that is not one (usage error), and a
 * server that refuses the connection with a well-known SQLSTATE (the cause named, a fitting hint,
 * never the password). The refusals come from a fake server that answers the startup message with
 * an ErrorResponse, so no PostgreSQL server is needed; the server at DATABASE_URL, when set, is
 * asked for a database that does not exist.
 */
import { createServer, type Server } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectionError } from "../src/config/connection-error.js";
import { checkCase, errorLines, runCli } from "./run-cli.js";
import { SERVER_URL } from "./test-db.js";

const PASSWORD = "hunter2-CANARY";

/** A "server" that refuses every startup with a FATAL ErrorResponse of `code` (and a message quoting the password). */
async function refusingServer(code: string): Promise<{ port: number; server: Server }> {
  const server = createServer((socket) => {
    socket.on("error", () => socket.destroy());
    socket.once("data", function onData(chunk: Buffer) {
      // An SSLRequest (length 8, code 80877103) is answered "no TLS"; the startup message follows.
      if (chunk.length === 8 && chunk.readUInt32BE(4) === 80877103) {
        socket.write("N");
        socket.once("data", onData);
        return;
      }
      const fields = [`SFATAL`, `VFATAL`, `C${code}`, `Mrefused; the server quotes ${PASSWORD}`]
        .map((f) => `${f}\0`)
        .join("");
      const body = Buffer.from(`${fields}\0`, "utf8");
      const head = Buffer.alloc(5);
      head.write("E", 0);
      head.writeUInt32BE(body.length + 4, 1);
      socket.end(Buffer.concat([head, body]));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { port: (server.address() as { port: number }).port, server };
}

const CODES = ["3D000", "28P01", "28000", "42501", "53300", "57P03", "08006"] as const;
const servers = new Map<string, { port: number; server: Server }>();
beforeAll(async () => {
  for (const code of CODES) servers.set(code, await refusingServer(code));
});
afterAll(async () => {
  for (const { server } of servers.values()) await new Promise<void>((resolve) => server.close(() => resolve()));
});

function urlOf(code: string): string {
  return `postgres://alice:${PASSWORD}@127.0.0.1:${servers.get(code)?.port}/nope`;
}

describe("a database URL that is not one is a usage error, never echoed", () => {
  it.each([
    {
      name: "--database-url 'not a url'",
      args: ["jobs", "runs", "--database-url", `not a url ${PASSWORD}`],
      env: {},
      exit: 2,
      stderr: errorLines(
        "--database-url is not a postgres:// or pglite: URL",
        "write postgres://USER@HOST:5432/DB (postgresql:// works too), or pglite:DIR for an embedded database",
      ),
    },
    {
      name: "DATABASE_URL of another scheme",
      args: ["jobs", "runs"],
      env: { DATABASE_URL: `mysql://root:${PASSWORD}@localhost/db` },
      exit: 2,
      stderr: errorLines(
        "DATABASE_URL is not a postgres:// or pglite: URL",
        "write postgres://USER@HOST:5432/DB (postgresql:// works too), or pglite:DIR for an embedded database",
      ),
    },
  ])("$name", async (c) => {
    const result = await checkCase(c);
    expect(result.stderr).not.toContain(PASSWORD);
  });
});

describe("a server that refuses the connection: the cause by SQLSTATE, a fitting hint, no password", () => {
  const cases = [
    {
      code: "3D000",
      exit: 3,
      message: (port: number) => `database "nope" does not exist on the server at 127.0.0.1:${port}`,
      hint: "check the database name at the end of --database-url or DATABASE_URL (postgres://USER@HOST:5432/DB), or create the database",
    },
    {
      code: "28P01",
      exit: 3,
      message: () => 'authentication failed for user "alice" (wrong password)',
      hint: "check the password: it is best kept in PGPASSWORD or ~/.pgpass rather than in the URL",
    },
    {
      code: "28000",
      exit: 3,
      message: () => 'authentication failed for user "alice"',
      hint: "check that the role exists and that the server's pg_hba.conf admits it from this host to this database",
    },
    {
      code: "42501",
      exit: 3,
      message: () => 'user "alice" may not connect to database "nope"',
      hint: "a superuser can grant it: GRANT CONNECT ON DATABASE … TO …",
    },
    {
      code: "53300",
      exit: 1,
      message: (port: number) => `too many connections: the server at 127.0.0.1:${port} has no connection slot left`,
      hint: "lower --workers, or try again when other clients have disconnected (max_connections)",
    },
    {
      code: "57P03",
      exit: 1,
      message: (port: number) =>
        `the server at 127.0.0.1:${port} is not accepting connections now (starting up, shutting down or in recovery)`,
      hint: "try again in a moment",
    },
    {
      code: "08006",
      exit: 1,
      message: () => "cannot connect to the database (08006)",
      hint: "check --database-url or DATABASE_URL, and that the server is running",
    },
  ];

  it.each(cases)("$code", async (c) => {
    const port = servers.get(c.code)?.port as number;
    const result = await runCli(["jobs", "runs", "--database-url", urlOf(c.code)]);
    expect(result.stderr).toBe(errorLines(c.message(port), c.hint));
    expect(result.stderr).not.toContain(PASSWORD);
    expect(result.stdout).toBe("");
    expect(result.exit).toBe(c.exit);
  });

  it("DATABASE_URL gets the same message as --database-url", async () => {
    const result = await runCli(["jobs", "runs"], { env: { DATABASE_URL: urlOf("28P01") } });
    expect(result.stderr).toBe(
      errorLines(
        'authentication failed for user "alice" (wrong password)',
        "check the password: it is best kept in PGPASSWORD or ~/.pgpass rather than in the URL",
      ),
    );
    expect(result.exit).toBe(3);
  });

  it("connectionError: names only what looks like an identifier, and never the server's message", () => {
    const error = Object.assign(new Error(`password authentication failed ${PASSWORD}`), { code: "28P01" });
    const odd = connectionError(error, { user: "a b;c", database: undefined, host: "/tmp", port: 5432 });
    expect([odd.message, odd.hint, odd.exitCode]).toStrictEqual([
      "authentication failed for user (its name) (wrong password)",
      "check the password: it is best kept in PGPASSWORD or ~/.pgpass rather than in the URL",
      3,
    ]);
    const missing = connectionError(Object.assign(new Error("x"), { code: "3D000" }), {
      user: "bob",
      database: "clinic",
      host: undefined,
      port: undefined,
    });
    expect(missing.message).toBe('database "clinic" does not exist on the server');
    expect(connectionError(new Error(PASSWORD), { user: "bob", database: "d", host: "h", port: 1 }).message).toBe(
      "cannot connect to the database",
    );
  });

  // Only the server run has a real server to ask (the fake one above covers 3D000 on every run);
  // registered only there, so the PGlite run reports no skip.
  const serverIt = SERVER_URL === undefined ? undefined : it;
  serverIt?.("3D000 from the server at DATABASE_URL", async () => {
    const url = new URL(SERVER_URL as string);
    url.pathname = "/fieldcrypt_no_such_database";
    const result = await runCli(["jobs", "runs", "--database-url", url.toString()]);
    expect(result.stderr).toMatch(
      /^fieldcrypt: error: database "fieldcrypt_no_such_database" does not exist on the server at \S+\nfieldcrypt: hint: check the database name/,
    );
    if (url.password !== "") expect(result.stderr).not.toContain(decodeURIComponent(url.password));
    expect(result.exit).toBe(3);
  });
});
