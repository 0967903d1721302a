// The `@shallot/protocol/circuit` entry point: what an onion proxy needs — circuits, the consensus,
// the link contract, the onion proxy itself — without the auth code (HPKE), so the browser page
// bundles only this.

export * from "./authorities.ts";
export * from "./authority-fetch.ts";
export * from "./bytes.ts";
export * from "./cell.ts";
export * from "./circuit-pool.ts";
export * from "./client.ts";
export * from "./consensus.ts";
export * from "./consensus-feed.ts";
export * from "./descriptor.ts";
export * from "./errors.ts";
export * from "./guards.ts";
export * from "./http-headers.ts";
export * from "./http-message.ts";
export * from "./link.ts";
export * from "./onion-proxy.ts";
export * from "./path.ts";
