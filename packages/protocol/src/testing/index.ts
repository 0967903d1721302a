// `@shallot/protocol/testing`: what tests of several packages share. Not used by any worker or client.
export * from "./relay-host.ts";
