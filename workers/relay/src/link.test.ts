import { env } from "cloudflare:workers";
import { CellCommand, DeadlineSet, type Descriptor, encodeCell, randomBytes } from "@shallot/protocol";
import { describe, expect, it } from "vitest";
import { type LinkOptions, sendCell } from "./link.ts";
import type { Relay } from "./relay.ts";

const testEnv = () => env as unknown as Cloudflare.Env;
const tarpit = (): Descriptor => JSON.parse(testEnv().TARPIT);
const relayCell = () => encodeCell({ command: CellCommand.RELAY, linkId: randomBytes(16), nonce: randomBytes(16), payload: new Uint8Array(512) });
const destroyCell = () => encodeCell({ command: CellCommand.DESTROY, linkId: randomBytes(16), reason: 0 });

/** Relay objects of "this deployment" that take a cell and never answer (a wedged object). */
const wedged = {
  idFromName: (name: string) => testEnv().RELAY.idFromName(name),
  get: () => ({ handleCell: () => new Promise(() => {}) }),
} as unknown as DurableObjectNamespace<Relay>;

const options = (relays: DurableObjectNamespace<Relay>): LinkOptions => ({ localPrefix: "http://relay.test/relays/", relays, neighbour: "a".repeat(64), timeoutMs: 300, relayTimeoutMs: 600 });

describe("sendCell deadlines", () => {
  it("gives up on a relay of this deployment that never answers", async () => {
    const address = `http://relay.test/relays/${"b".repeat(64)}`;
    await expect(sendCell(address, destroyCell(), options(wedged))).rejects.toMatchObject({ code: "link_timeout", address });
    await expect(sendCell(address, relayCell(), options(wedged))).rejects.toMatchObject({ code: "link_timeout" });
  });

  it("gives up on a wedged relay of this deployment on the sender's shared deadlines too, and leaves no timer behind", async () => {
    const address = `http://relay.test/relays/${"b".repeat(64)}`;
    const deadlines = new DeadlineSet(Date.now);
    const shared = { ...options(wedged), deadlines };
    const both = [sendCell(address, destroyCell(), shared), sendCell(address, relayCell(), shared)];
    expect(deadlines.size).toBe(2);
    await expect(both[0]).rejects.toMatchObject({ code: "link_timeout", address });
    await expect(both[1]).rejects.toMatchObject({ code: "link_timeout", address });
    expect(deadlines.armed).toBe(false);
  });

  it("gives up on a relay of another deployment that never answers (a tarpit)", async () => {
    await expect(sendCell(tarpit().address, relayCell(), options(testEnv().RELAY))).rejects.toMatchObject({ code: "link_timeout", address: tarpit().address });
  });

  it("reaches only relay objects within this deployment: any other path under the prefix is refused", async () => {
    await expect(sendCell("http://relay.test/relays/../fetch?url=x", destroyCell(), options(wedged))).rejects.toMatchObject({ code: "unknown_relay" });
  });
});
