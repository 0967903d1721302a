#!/usr/bin/env -S node --disable-warning=ExperimentalWarning
// The `onion` command. Node 22 runs the TypeScript sources by type stripping, so there is no build.
import { main } from "../src/main.ts";

process.exitCode = await main(process.argv.slice(2));
