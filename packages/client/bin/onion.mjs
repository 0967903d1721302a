#!/usr/bin/env -S node --disable-warning=ExperimentalWarning --initial-heap-size=64
// The `onion` command. Node 22 runs the TypeScript sources by type stripping, so there is no build.
// --initial-heap-size: a download's cells are ArrayBuffers, held for a moment outside V8's heap. Once
// the proxy had run a few seconds, V8 had sized its heap to the proxy's few MB of objects and ran a
// mark-compact every few cells: half again the CPU per download (docs/performance.md). With 64 MB
// the cells are freed by scavenges alone.
import { main } from "../src/main.ts";

process.exitCode = await main(process.argv.slice(2));
