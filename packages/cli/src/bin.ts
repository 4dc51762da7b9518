#!/usr/bin/env node
import { processIo } from "./internal/io.js";
import { main } from "./main.js";

// A closed pipe (`fieldcrypt … | head -1`) is the reader's choice, not a failure worth a stack.
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  if (error.code === "EPIPE") process.exit(process.exitCode ?? 0);
  throw error;
});

process.exitCode = await main(process.argv.slice(2), processIo());
