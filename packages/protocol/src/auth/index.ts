// Shared by the auth server, the gateway and clients: pure, no fetch, no storage.
export * from "./base64.ts";
export * from "./bhttp.ts";
export * from "./channel.ts";
export * from "./client.ts";
export * from "./mechanisms.ts";
export * from "./ohttp.ts";
export * from "./puzzle.ts";
export * from "./rotation.ts";
export * from "./scram.ts";
export * from "./schemas.ts";
export * from "./sealed.ts";
