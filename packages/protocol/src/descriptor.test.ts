import * as v from "valibot";
import { describe, expect, it } from "vitest";
import { fromHex, fromUtf8, toBase64Url, toHex } from "./bytes.ts";
import { type Descriptor, DescriptorSchema, SignedDescriptorSchema, deploymentHost, descriptorSigningBytes, isCanonicalRelayAddress, relayIdFor, signDescriptor, verifyDescriptor } from "./descriptor.ts";
import { generateX25519, importEd25519 } from "./x25519.ts";

async function fixture() {
  const identity = await importEd25519(fromHex("11".repeat(32)));
  const onion = await generateX25519();
  const id = await relayIdFor(identity.publicKey);
  const descriptor: Descriptor = {
    id,
    address: `https://relay-1.example.workers.dev/relays/${id}`,
    onionKey: toBase64Url(onion.publicKey),
    identityKey: toBase64Url(identity.publicKey),
    exitPolicy: "public",
    published: 1_700_000_000_000,
  };
  return { identity, descriptor };
}

describe("signed descriptors", () => {
  it("verify under the identity key they carry", async () => {
    const { identity, descriptor } = await fixture();
    const signed = await signDescriptor(descriptor, identity.privateKey);
    expect(v.is(SignedDescriptorSchema, signed)).toBe(true);
    expect(await verifyDescriptor(signed)).toBe(true);
  });

  it("sign one field a line, in a fixed order, under a context string", async () => {
    const { descriptor } = await fixture();
    expect(fromUtf8(descriptorSigningBytes(descriptor))).toBe(
      ["shallot-descriptor-v2", descriptor.id, descriptor.address, descriptor.onionKey, descriptor.identityKey, descriptor.exitPolicy, String(descriptor.published)].join("\n"),
    );
  });

  it.each<[string, (d: Descriptor) => Descriptor]>([
    ["id", (d) => ({ ...d, id: "0".repeat(64) })],
    ["address", (d) => ({ ...d, address: `https://evil.example/relays/${d.id}` })],
    ["onionKey", (d) => ({ ...d, onionKey: toBase64Url(new Uint8Array(32).fill(9)) })],
    ["exitPolicy", (d) => ({ ...d, exitPolicy: "all" })],
    ["published", (d) => ({ ...d, published: d.published + 1 })],
  ])("are refused when the %s field was changed after signing", async (_, tamper) => {
    const { identity, descriptor } = await fixture();
    const signed = await signDescriptor(descriptor, identity.privateKey);
    expect(await verifyDescriptor({ ...signed, descriptor: tamper(signed.descriptor) })).toBe(false);
  });

  it("are refused when the identity key is swapped for another one", async () => {
    const { identity, descriptor } = await fixture();
    const other = await importEd25519(fromHex("22".repeat(32)));
    const signed = await signDescriptor(descriptor, identity.privateKey);
    expect(await verifyDescriptor({ ...signed, descriptor: { ...descriptor, identityKey: toBase64Url(other.publicKey) } })).toBe(false);
  });

  it("are refused when signed by a key other than the one they carry", async () => {
    const { descriptor } = await fixture();
    const other = await importEd25519(fromHex("22".repeat(32)));
    expect(await verifyDescriptor(await signDescriptor(descriptor, other.privateKey))).toBe(false);
  });

  it("name the relay by the SHA-256 fingerprint of its identity key", async () => {
    const { identity, descriptor } = await fixture();
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", identity.publicKey));
    expect(descriptor.id).toBe(toHex(digest));
  });

  it("are refused when correctly signed but claiming an id that is not the key's fingerprint", async () => {
    const { identity, descriptor } = await fixture();
    const victim = await importEd25519(fromHex("33".repeat(32)));
    const claimed = { ...descriptor, id: await relayIdFor(victim.publicKey) };
    expect(await verifyDescriptor(await signDescriptor(claimed, identity.privateKey))).toBe(false);
  });

  it("are refused when the signature has a flipped bit", async () => {
    const { identity, descriptor } = await fixture();
    const signed = await signDescriptor(descriptor, identity.privateKey);
    const flipped = signed.signature[0] === "A" ? `B${signed.signature.slice(1)}` : `A${signed.signature.slice(1)}`;
    expect(await verifyDescriptor({ ...signed, signature: flipped })).toBe(false);
  });
});

describe("DescriptorSchema", () => {
  it.each<[string, Partial<Descriptor> & Record<string, unknown>]>([
    ["an uppercase id", { id: "A".repeat(64) }],
    ["a short id", { id: "a".repeat(63) }],
    ["a non-http address", { address: "ftp://relay.example/" }],
    ["a relative address", { address: "/relays/1" }],
    ["an address that names another relay", { address: `https://relay-1.example.workers.dev/relays/${"0".repeat(64)}` }],
    ["an address with a space", { address: "https://relay-1.example.workers.dev/a b/relays/x" }],
    ["a 31-byte onion key", { onionKey: toBase64Url(new Uint8Array(31)) }],
    ["a negative published time", { published: -1 }],
    ["a fractional published time", { published: 1.5 }],
    ["an unknown exit policy", { exitPolicy: "accept *:*" as never }],
    ["no exit policy", { exitPolicy: undefined }],
    ["an unknown field", { extra: 1 }],
  ])("refuses %s", async (_, change) => {
    const { descriptor } = await fixture();
    expect(v.is(DescriptorSchema, { ...descriptor, ...change })).toBe(false);
  });

  it("accepts a well-formed descriptor", async () => {
    const { descriptor } = await fixture();
    expect(v.is(DescriptorSchema, descriptor)).toBe(true);
  });
});

describe("deploymentHost", () => {
  it("names a deployment by the host and port of its relays' addresses", () => {
    const id = "ab".repeat(32);
    expect(deploymentHost(`https://relay.example.workers.dev/relays/${id}`)).toBe("relay.example.workers.dev");
    expect(deploymentHost(`http://127.0.0.1:8787/relays/${id}`)).toBe("127.0.0.1:8787");
    expect(deploymentHost(`http://127.0.0.1:8790/relays/${id}`)).toBe("127.0.0.1:8790");
    expect(deploymentHost(`https://example.com/a/relays/${id}`)).toBe(deploymentHost(`https://example.com/b/relays/${id}`));
    // A public host is one deployment whatever port it serves relays on (Tor counts per IP).
    expect(deploymentHost(`https://relay.example:9201/relays/${id}`)).toBe("relay.example");
    expect(deploymentHost(`http://203.0.113.7:9202/relays/${id}`)).toBe(deploymentHost(`http://203.0.113.7:9203/relays/${id}`));
  });
});

describe("isCanonicalRelayAddress", () => {
  const id = "ab".repeat(32);
  it.each([
    `https://relay.example.workers.dev/relays/${id}`,
    `http://127.0.0.1:8787/relays/${id}`,
    `https://example.com/shallot/v1/relays/${id}`,
    `http://[::1]:8787/relays/${id}`,
  ])("accepts %s", (address) => {
    expect(isCanonicalRelayAddress(address, id)).toBe(true);
  });

  it.each([
    ["another relay's id", `https://relay.example/relays/${"cd".repeat(32)}`],
    ["an uppercase id", `https://relay.example/relays/${id.toUpperCase()}`],
    ["a dot-dot walk to another route", `https://relay.example/relays/../fetch?url=http://x/relays/${id}`],
    ["a dot-dot segment that stays put", `https://relay.example/x/../relays/${id}`],
    ["a dot segment", `https://relay.example/./relays/${id}`],
    ["a percent-encoded dot-dot", `https://relay.example/relays/%2e%2e/relays/${id}`],
    ["a percent-encoded slash", `https://relay.example/a%2fb/relays/${id}`],
    ["a query", `https://relay.example/relays/${id}?x=1`],
    ["an empty query", `https://relay.example/relays/${id}?`],
    ["a fragment", `https://relay.example/relays/${id}#x`],
    ["userinfo", `https://user:pass@relay.example/relays/${id}`],
    ["a trailing slash", `https://relay.example/relays/${id}/`],
    ["a trailing route", `https://relay.example/relays/${id}/cell`],
    ["an uppercase host", `https://Relay.example/relays/${id}`],
    ["a default port", `https://relay.example:443/relays/${id}`],
    ["a backslash", `https://relay.example\\relays/${id}`],
    ["a space", `https://relay.example/a b/relays/${id}`],
    ["a tab", `https://relay.example/relays/${id}\t`],
    ["a newline", `https://relay.example/relays/${id}\n`],
    ["a control character in the host", `https://relay\u0001.example/relays/${id}`],
    ["a non-ASCII host", `https://rélay.example/relays/${id}`],
    ["another scheme", `ftp://relay.example/relays/${id}`],
    ["no /relays/ segment", `https://relay.example/${id}`],
    ["a double slash", `https://relay.example//relays/${id}`],
  ])("refuses %s", (_, address) => {
    expect(isCanonicalRelayAddress(address, id)).toBe(false);
  });
});
