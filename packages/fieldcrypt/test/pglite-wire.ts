/**
 * PGlite behind the PostgreSQL wire protocol on a loopback port, so that a test can give the CLI a
 * `postgres://` URL (node-postgres, TCP, startup, authentication) on a plain `npm test` with no
 * server. PGlite speaks the protocol itself (`execProtocolRaw`, startup message included); this
 * only frames the messages of one client at a time and writes PGlite's answers back.
 *
 * PGlite is one session: a second client that connects while one is open is refused (the socket
 * is closed), and session settings such as `search_path` outlive a client. The test process may
 * query the same PGlite in-process meanwhile: each group of the client's messages up to a Sync or a
 * simple Query runs under PGlite's lock, so no in-process query lands inside an extended-protocol
 * exchange. A NOTIFY reaches in-process listeners only, never the wire client.
 */
import { createServer, type Socket } from "node:net";
import { PGlite } from "@electric-sql/pglite";

export interface PgliteWire {
  /** `postgres://postgres@127.0.0.1:PORT/postgres` */
  readonly url: string;
  close(): Promise<void>;
}

/** The protocol version 3.0 in a startup message. */
const PROTOCOL_3 = 0x0003_0000;
/** An SSLRequest's code: answered `N` (no TLS on loopback), as a server without TLS does. */
const SSL_REQUEST = 80877103;
const TERMINATE = 0x58; // 'X'

/** Message types after which the client waits for an answer: Sync, Query, Flush, Terminate. */
const GROUP_ENDS = new Set([0x53, 0x51, 0x48, 0x58]);

/** Serves `db` (default: a new in-memory PGlite, closed with the server). */
export async function startPgliteWire(existing?: PGlite): Promise<PgliteWire> {
  const db = existing ?? (await PGlite.create());
  let active: Socket | undefined;
  const server = createServer((socket) => {
    if (active !== undefined) {
      socket.destroy();
      return;
    }
    active = socket;
    socket.on("close", () => {
      if (active === socket) active = undefined;
    });
    socket.on("error", () => socket.destroy());
    serve(db, socket);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    async close() {
      active?.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      if (existing === undefined) await db.close();
    },
  };
}

/**
 * Frames what `socket` sends into whole messages and passes them to PGlite in order, each group
 * (up to a message the client then waits on) under PGlite's lock.
 */
function serve(db: PGlite, socket: Socket): void {
  let buffered = Buffer.alloc(0);
  let started = false;
  let group: { message: Buffer; afterStartup: boolean }[] = [];
  let queue = Promise.resolve();
  socket.on("data", (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    for (;;) {
      const message = nextMessage(buffered, started);
      if (message === undefined) return;
      buffered = buffered.subarray(message.length);
      const afterStartup = started;
      if (!started && message.readInt32BE(4) === PROTOCOL_3) started = true;
      group.push({ message, afterStartup });
      if (afterStartup && !GROUP_ENDS.has(message[0] as number)) continue;
      const ready = group;
      group = [];
      queue = queue
        .then(() =>
          db.runExclusive(async () => {
            for (const m of ready) await answer(db, socket, m.message, m.afterStartup);
          }),
        )
        .catch(() => void socket.destroy());
    }
  });
}

/** The next whole message at the start of `buffered`: before startup, length-first; after, type-first. */
function nextMessage(buffered: Buffer, started: boolean): Buffer | undefined {
  const headerLength = started ? 5 : 4;
  if (buffered.length < headerLength) return undefined;
  const length = started ? 1 + buffered.readInt32BE(1) : buffered.readInt32BE(0);
  return buffered.length < length ? undefined : Buffer.from(buffered.subarray(0, length));
}

async function answer(db: PGlite, socket: Socket, message: Buffer, started: boolean): Promise<void> {
  if (!started && message.readInt32BE(4) === SSL_REQUEST) {
    socket.write("N");
    return;
  }
  if (started && message[0] === TERMINATE) {
    socket.end();
    return;
  }
  const reply = await db.execProtocolRaw(new Uint8Array(message));
  if (reply.length > 0 && socket.writable) socket.write(reply);
}
