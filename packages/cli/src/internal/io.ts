import type { OpenDatabase } from "./cli-database.js";

/**
 * What a command may touch of the process: the environment, stdin and the two output streams.
 * Commands get it passed in, so they never reach for `process` themselves.
 */
export interface Io {
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Reads standard input to its end. */
  readStdin(): Promise<Buffer>;
  readonly stdinIsTTY: boolean;
  readonly stdoutIsTTY: boolean;
  out(text: string): void;
  err(text: string): void;
  /**
   * Opens the database of --database-url / DATABASE_URL; absent (the real process), a pg.Pool.
   * Tests inject one that returns an embedded PGlite, so they need no server.
   */
  readonly openDatabase?: OpenDatabase;
}

/** The real process. */
export function processIo(): Io {
  return {
    env: process.env,
    async readStdin() {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks);
    },
    stdinIsTTY: process.stdin.isTTY === true,
    stdoutIsTTY: process.stdout.isTTY === true,
    out: (text) => {
      process.stdout.write(text);
    },
    err: (text) => {
      process.stderr.write(text);
    },
  };
}
