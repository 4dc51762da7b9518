#!/usr/bin/env node
// Committed launcher, so that `npm ci` can link the `fieldcrypt` command before the build has run.
import "../dist/bin.js";
