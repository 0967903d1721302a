// Regenerates the JSON vectors from our implementation: GENERATE_VECTORS=1 npx vitest run test-vectors/generate.test.ts
// Inputs are fixed (RFC 7748 / RFC 8032 keys where one fits, otherwise SHA-256 of a label), so the
// output only changes if the protocol does; vectors.test.ts then checks the code against the files.

import { writeFileSync } from "node:fs";
import { it } from "vitest";
import {
  type Bytes,
  CellCommand,
  type Descriptor,
  type ListedRelay,
  type RelayFlag,
  type VoteDocument,
  computeConsensus,
  serializeConsensus,
  signConsensusText,
  signVote,
  DestroyReason,
  RelayCommand,
  applyLayer,
  descriptorSigningBytes,
  encodeCell,
  fromHex,
  fromUtf8,
  importCircuitKeys,
  webCellCrypto,
  importEd25519,
  importX25519,
  nextNonce,
  ntorClientStart,
  relayIdFor,
  ntorServer,
  sealRelayCell,
  signDescriptor,
  toBase64Url,
  toHex,
  utf8,
  EndReason,
  encodeBegin,
  encodeData,
  encodeEnd,
  encodeSendme,
  encodeStreamId,
  withOrder,
} from "../src/index.ts";

const label = async (text: string): Promise<Bytes> => new Uint8Array(await crypto.subtle.digest("SHA-256", utf8(`shallot test vector: ${text}`)));
const aes = (raw: Bytes) => webCellCrypto.cipher(raw);
const hmac = (raw: Bytes) => webCellCrypto.mac(raw);
const pattern = (length: number, seed: number): Bytes => Uint8Array.from({ length }, (_, i) => (seed + i * 29) & 255);
const write = (name: string, value: unknown) => writeFileSync(new URL(`./${name}`, import.meta.url), `${JSON.stringify(value, null, 2)}\n`);

const RFC7748_ALICE = "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a";
const RFC7748_BOB = "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb";
const RFC8032_TEST1 = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";

async function ntorVector(name: string, x: Bytes, y: Bytes, b: Bytes, relayId: Bytes) {
  const [X, Y, B] = await Promise.all([importX25519(x), importX25519(y), importX25519(b)]);
  const { onionskin } = await ntorClientStart(relayId, B.publicKey, X);
  const { reply, keyMaterial } = await ntorServer(onionskin, { relayId, onionKey: B }, Y);
  return {
    name,
    relayId: toHex(relayId),
    b: toHex(b),
    B: toHex(B.publicKey),
    x: toHex(x),
    X: toHex(X.publicKey),
    y: toHex(y),
    Y: toHex(Y.publicKey),
    onionskin: toHex(onionskin),
    reply: toHex(reply),
    keyMaterial: toHex(keyMaterial),
  };
}

async function layerVector(name: string, key: Bytes, nonceKey: Bytes, nonce: Bytes, plaintext: Bytes) {
  return {
    name,
    key: toHex(key),
    nonceKey: toHex(nonceKey),
    nonce: toHex(nonce),
    plaintext: toHex(plaintext),
    ciphertext: toHex(await applyLayer(await aes(key), nonce, plaintext)),
    nextNonce: toHex(await nextNonce(await hmac(nonceKey), nonce)),
  };
}

async function relayCellVector(name: string, macKey: Bytes, nonce: Bytes, command: RelayCommand, seq: number, data: Bytes) {
  const sealed = await sealRelayCell(await hmac(macKey), nonce, { command, seq, data });
  return { name, macKey: toHex(macKey), nonce: toHex(nonce), command, seq, data: toHex(data), sealed: toHex(sealed) };
}

/** A client's REQUEST to the exit of a 3-hop circuit, and the exit's RESPONSE back, as each hop sees them. */
async function circuitVector(keyMaterial: Bytes[], entryNonce: Bytes) {
  const keys = await Promise.all(keyMaterial.map((material) => importCircuitKeys(material)));
  const nonces = [entryNonce];
  for (let i = 1; i < keys.length; i++) nonces.push(await nextNonce(keys[i - 1]!.nonce, nonces[i - 1]!));
  const exit = keys.length - 1;
  const request = { command: RelayCommand.REQUEST, seq: 1, data: utf8("a request for the exit") };
  const forwardPlaintext = await sealRelayCell(keys[exit]!.forward.mac, nonces[exit]!, request);
  // forward[i]: the payload hop i receives. The client adds every layer; hop i removes its own.
  const forward: Bytes[] = new Array(keys.length);
  let payload = forwardPlaintext;
  for (let i = exit; i >= 0; i--) {
    payload = await applyLayer(keys[i]!.forward.cipher, nonces[i]!, payload);
    forward[i] = payload;
  }
  const response = { command: RelayCommand.RESPONSE, seq: 1, data: utf8("the exit's answer") };
  const backwardPlaintext = await sealRelayCell(keys[exit]!.backward.mac, nonces[exit]!, response);
  // backward[i]: the payload hop i sends towards the client, after adding its layer.
  const backward: Bytes[] = new Array(keys.length);
  payload = backwardPlaintext;
  for (let i = exit; i >= 0; i--) {
    payload = await applyLayer(keys[i]!.backward.cipher, nonces[i]!, payload);
    backward[i] = payload;
  }
  return {
    hops: keyMaterial.map((material, i) => ({ keyMaterial: toHex(material), nonce: toHex(nonces[i]!), forwardPayload: toHex(forward[i]!), backwardPayload: toHex(backward[i]!) })),
    request: { command: request.command, seq: request.seq, data: toHex(request.data), plaintext: toHex(forwardPlaintext) },
    response: { command: response.command, seq: response.seq, data: toHex(response.data), plaintext: toHex(backwardPlaintext) },
  };
}

async function relayDescriptor(n: number, published: number) {
  const identitySeed = await label(`identity seed ${n}`);
  const onionScalar = await label(`onion key ${n}`);
  const [identity, onion] = await Promise.all([importEd25519(identitySeed), importX25519(onionScalar)]);
  const id = await relayIdFor(identity.publicKey);
  const descriptor: Descriptor = {
    id,
    address: `https://relay-${n}.shallot.example/relays/${id}`,
    onionKey: toBase64Url(onion.publicKey),
    identityKey: toBase64Url(identity.publicKey),
    exitPolicy: (["public", "all", "none"] as const)[n - 1]!,
    published,
  };
  const signed = await signDescriptor(descriptor, identity.privateKey);
  return { identitySeed: toHex(identitySeed), onionKeyScalar: toHex(onionScalar), signingText: fromUtf8(descriptorSigningBytes(descriptor)), ...signed };
}

it.runIf(process.env.GENERATE_VECTORS === "1")("writes the test vectors", async () => {
  const ntor = [
    await ntorVector("RFC 7748 keys as x and y", fromHex(RFC7748_ALICE), fromHex(RFC7748_BOB), await label("ntor b 1"), await label("ntor relay id 1")),
    await ntorVector("derived keys", await label("ntor x 2"), await label("ntor y 2"), await label("ntor b 2"), await label("ntor relay id 2")),
  ];
  write("ntor.json", { protoid: "shallot-ntor-x25519-sha256-1", vectors: ntor });

  const layerKey = await label("layer key");
  const nonceKey = await label("layer nonce key");
  write("layer.json", {
    vectors: [
      await layerVector("one short message", layerKey, nonceKey, fromHex("000102030405060708090a0b0c0d0e0f"), utf8("onion")),
      await layerVector("one 512-byte payload", layerKey, nonceKey, (await label("layer nonce 2")).subarray(0, 16), pattern(512, 7)),
      // Low 64 bits of the counter wrap after two blocks: the high 64 bits must stay as they are.
      await layerVector("counter wraps in its low 64 bits", layerKey, nonceKey, fromHex("0011223344556677fffffffffffffffe"), pattern(64, 1)),
    ],
  });

  const macKey = await label("relay cell mac key");
  const cellNonce = (await label("relay cell nonce")).subarray(0, 16);
  write("relay-cell.json", {
    vectors: [
      await relayCellVector("empty REQUEST", macKey, cellNonce, RelayCommand.REQUEST, 1, new Uint8Array(0)),
      await relayCellVector("EXTEND2 in the smallest bucket", macKey, cellNonce, RelayCommand.EXTEND2, 2, pattern(200, 3)),
      await relayCellVector("RESPONSE that needs the 1024-byte bucket", macKey, cellNonce, RelayCommand.RESPONSE, 0xfffffffe, pattern(600, 5)),
    ],
  });

  const hopMaterial = await Promise.all([1, 2, 3].map(async (i) => new Uint8Array([...(await label(`hop ${i} a`)), ...(await label(`hop ${i} b`)), ...(await label(`hop ${i} c`)), ...(await label(`hop ${i} d`)), ...(await label(`hop ${i} e`))])));
  write("circuit.json", await circuitVector(hopMaterial, (await label("entry nonce")).subarray(0, 16)));

  // Stream cells: the data of each relay command (forward as the client sends it, backward with its
  // order), and one sealed forward DATA cell.
  const flat = (parts: Bytes | Bytes[]) => toHex(parts instanceof Uint8Array ? parts : new Uint8Array(parts.flatMap((part) => [...part])));
  const streamBytes = pattern(40, 13);
  write("streams.json", {
    data: [
      { name: "BEGIN to example.com:443", command: RelayCommand.BEGIN, direction: "forward", fields: { streamId: 1, host: "example.com", port: 443 }, data: toHex(encodeBegin({ streamId: 1, host: "example.com", port: 443 })) },
      { name: "BEGIN to a bracketed IPv6 literal", command: RelayCommand.BEGIN, direction: "forward", fields: { streamId: 0x1234, host: "[2001:db8::1]", port: 80 }, data: toHex(encodeBegin({ streamId: 0x1234, host: "[2001:db8::1]", port: 80 })) },
      { name: "CONNECTED answering BEGIN (order 0)", command: RelayCommand.CONNECTED, direction: "backward", fields: { order: 0, streamId: 1 }, data: flat(withOrder(0, encodeStreamId(1))) },
      { name: "forward DATA", command: RelayCommand.DATA, direction: "forward", fields: { streamId: 1, bytes: toHex(streamBytes) }, data: flat(encodeData({ streamId: 1, bytes: streamBytes })) },
      { name: "backward DATA, the 7th cell to leave the exit's queue", command: RelayCommand.DATA, direction: "backward", fields: { order: 7, streamId: 1, bytes: toHex(streamBytes) }, data: flat(withOrder(7, encodeData({ streamId: 1, bytes: streamBytes }))) },
      { name: "backward END DONE", command: RelayCommand.END, direction: "backward", fields: { order: 8, streamId: 1, reason: EndReason.DONE }, data: flat(withOrder(8, encodeEnd({ streamId: 1, reason: EndReason.DONE }))) },
      { name: "forward END DONE", command: RelayCommand.END, direction: "forward", fields: { streamId: 2, reason: EndReason.DONE }, data: toHex(encodeEnd({ streamId: 2, reason: EndReason.DONE })) },
      { name: "forward stream SENDME of 128 KiB", command: RelayCommand.SENDME, direction: "forward", fields: { streamId: 1, increment: 131072 }, data: toHex(encodeSendme({ streamId: 1, increment: 131072 })) },
      { name: "backward circuit SENDME of 512 KiB", command: RelayCommand.SENDME, direction: "backward", fields: { order: 9, streamId: 0, increment: 524288 }, data: flat(withOrder(9, encodeSendme({ streamId: 0, increment: 524288 }))) },
      { name: "DRAIN", command: RelayCommand.DRAIN, direction: "forward", fields: {}, data: "" },
      { name: "IDLE", command: RelayCommand.IDLE, direction: "backward", fields: {}, data: "" },
    ],
    sealed: await relayCellVector("forward DATA sealed for the exit", macKey, cellNonce, RelayCommand.DATA, 5, new Uint8Array(encodeData({ streamId: 1, bytes: streamBytes }).flatMap((part) => [...part]))),
  });

  const linkId = (await label("link id")).subarray(0, 16);
  const relayCellPayload = pattern(512, 11);
  write("cells.json", {
    vectors: [
      { name: "CREATE2", linkId: toHex(linkId), command: CellCommand.CREATE2, onionskin: ntor[0]!.onionskin, bytes: toHex(encodeCell({ command: CellCommand.CREATE2, linkId, onionskin: fromHex(ntor[0]!.onionskin) })) },
      { name: "CREATED2", linkId: toHex(linkId), command: CellCommand.CREATED2, reply: ntor[0]!.reply, bytes: toHex(encodeCell({ command: CellCommand.CREATED2, linkId, reply: fromHex(ntor[0]!.reply) })) },
      { name: "RELAY", linkId: toHex(linkId), command: CellCommand.RELAY, nonce: toHex(cellNonce), payload: toHex(relayCellPayload), bytes: toHex(encodeCell({ command: CellCommand.RELAY, linkId, nonce: cellNonce, payload: relayCellPayload })) },
      { name: "RELAY_EARLY", linkId: toHex(linkId), command: CellCommand.RELAY_EARLY, nonce: toHex(cellNonce), payload: toHex(relayCellPayload), bytes: toHex(encodeCell({ command: CellCommand.RELAY_EARLY, linkId, nonce: cellNonce, payload: relayCellPayload })) },
      { name: "DESTROY", linkId: toHex(linkId), command: CellCommand.DESTROY, reason: DestroyReason.FINISHED, bytes: toHex(encodeCell({ command: CellCommand.DESTROY, linkId, reason: DestroyReason.FINISHED })) },
    ],
  });

  const published = 1_767_225_600_000; // 2026-01-01T00:00:00Z
  const descriptors = await Promise.all([1, 2, 3].map((n) => relayDescriptor(n, published)));
  write("descriptor.json", { vectors: descriptors });

  // Three authorities vote on the three relays; each signs the consensus computed from the votes.
  const seeds = [fromHex(RFC8032_TEST1), await label("authority 2 seed"), await label("authority 3 seed")];
  const authorities = await Promise.all(seeds.map((seed) => importEd25519(seed)));
  const keys = authorities.map((a) => toBase64Url(a.publicKey));
  const round = published + 60_000;
  const [r1, r2, r3] = descriptors.map((d) => d.descriptor);
  const listed = (d: Descriptor, flags: RelayFlag[], at = d.published): ListedRelay => ({ ...d, published: at, flags });
  const votes: VoteDocument[] = [
    { version: 1, authority: keys[0]!, published: round, relays: [listed(r1!, ["Exit", "Guard", "Running", "Stable"]), listed(r2!, ["Exit", "Running"]), listed(r3!, ["Running", "Stable"])] },
    { version: 1, authority: keys[1]!, published: round, relays: [listed(r1!, ["Exit", "Guard", "Running", "Stable"], published + 10_000), listed(r2!, ["Exit", "Running", "Stable"])] },
    { version: 1, authority: keys[2]!, published: round, relays: [listed(r1!, ["Exit", "Running", "Stable"]), listed(r3!, ["Guard", "Running", "Stable"])] },
  ];
  const signedVotes = await Promise.all(votes.map((vote, i) => signVote(vote, authorities[i]!.privateKey)));
  const rules = { authorityCount: 3, published: round, validUntil: round + 180_000, maxRelaysPerHost: 2 };
  const text = serializeConsensus(computeConsensus(votes, rules)!);
  write("consensus.json", {
    authoritySeeds: seeds.map(toHex),
    authorityKeys: keys,
    voteContext: "shallot-vote-v1\n",
    consensusContext: "shallot-consensus-v2\n",
    rules,
    votes: signedVotes,
    signed: { document: text, signatures: await Promise.all(authorities.map((a, i) => signConsensusText(text, keys[i]!, a.privateKey))) },
  });
});
