// The three directory authorities of the mesh, end to end: one consensus that each signs; a client
// takes a consensus signed by 2 of them and refuses one signed by 1; with one authority stopped
// (frozen with SIGSTOP, as a host that hangs) relays are still listed and circuits still build; and
// an authority whose key is stolen can neither add a relay nor drop one.

import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import {
  type ConsensusDocument,
  type ListedRelay,
  type SignedConsensus,
  fromBase64Url,
  generateEd25519,
  generateX25519,
  importEd25519,
  relayIdFor,
  serializeConsensus,
  signConsensusText,
  signVote,
  toBase64Url,
  verifyConsensus,
} from "@shallot/protocol";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { consensusWhere, networkArgs } from "./network.ts";
import { onion } from "./onion-cli.ts";
import { type Origin, freePort, startOrigin } from "./origin.ts";

const mesh = inject("mesh");
const ADMIN = { authorization: `Bearer ${mesh.adminToken}` };
const keys = mesh.authorities.map((a) => a.key);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Freezes (SIGSTOP) or wakes (SIGCONT) one worker's whole process group: wrangler and its workerd. */
const signal = (name: string, sig: NodeJS.Signals) => process.kill(-mesh.groups[name]!, sig);

const served = async (url: string): Promise<SignedConsensus> => (await fetch(`${url}/consensus`)).json();
const signersOf = (signed: SignedConsensus) => signed.signatures.map((s) => s.authority).sort();

/** Waits for the first authority to serve a consensus that satisfies `test` (and returns it). */
async function servedWhere(test: (signed: SignedConsensus, document: ConsensusDocument) => boolean, ms = 40_000): Promise<SignedConsensus> {
  const deadline = Date.now() + ms;
  for (;;) {
    const signed = await served(mesh.urls.directory).catch(() => null);
    if (signed && test(signed, JSON.parse(signed.document))) return signed;
    if (Date.now() > deadline) throw new Error("the authorities never served such a consensus");
    await sleep(250);
  }
}

/** The first relay of `document` that serves its descriptor: not one retired and still listed until the next round. */
async function liveRelay(document: ConsensusDocument): Promise<ListedRelay> {
  for (const relay of document.relays) {
    const answer = await fetch(relay.address).catch(() => null);
    await answer?.body?.cancel();
    if (answer?.ok) return relay;
  }
  throw new Error("no relay of the consensus serves its descriptor");
}

/** Serves one fixed answer to GET <url>/aN/consensus: three stand-in addresses for the real authorities' keys. */
async function serveConsensus(signed: unknown): Promise<{ urls: string[]; close: () => Promise<void> }> {
  const server: Server = createServer((_request, response) => response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(signed)));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { urls: [1, 2, 3].map((n) => `${base}/a${n}`), close: () => new Promise<void>((r) => server.close(() => r())) };
}

let origin: Origin;
beforeAll(async () => {
  origin = await startOrigin();
  origin.answer = { status: 200, headers: { "content-type": "text/plain" }, body: Buffer.from("through the network") };
});
afterAll(async () => {
  for (const name of ["authority-1", "authority-2", "authority-3"]) signal(name, "SIGCONT");
  await origin?.close();
});

describe("three directory authorities", () => {
  it("sign one consensus, and each one's status page shows every authority, its vote and the relays' flags", async () => {
    const signed = await servedWhere((s) => s.signatures.length === 3);
    const document = JSON.parse(signed.document) as ConsensusDocument;
    expect(signersOf(signed)).toEqual([...keys].sort());
    expect(document.voters).toEqual([...keys].sort());
    // Every authority serves that document (or the next round's), signed by all three.
    for (const url of mesh.urls.directories) {
      const other = await served(url);
      expect(await verifyConsensus(other, keys, Date.now())).toMatchObject({ version: 2 });
    }
    // A page made just after a new round began shows that round's consensus before the third
    // signature is in: read it again until the round is fully signed.
    let page = "";
    await expect
      .poll(async () => (page = await (await fetch(`${mesh.urls.directories[1]}/`)).text()), { timeout: 15_000, interval: 250 })
      .toMatch(/signed by <strong>3<\/strong> of 3 authorities/);
    for (const authority of mesh.authorities) {
      expect(page).toContain(authority.url);
      expect(page).toContain(authority.key.slice(0, 16));
    }
    expect(page).toMatch(/signed by <strong>3<\/strong> of 3 authorities \(clients need 2\)/);
    expect(page.match(/<td>signed<\/td>/g)).toHaveLength(3);
    const relay = await liveRelay(document);
    const row = page.split("\n").find((line) => line.includes(relay.id.slice(0, 12)))!;
    // Its consensus flags, then each authority's vote for it.
    expect(row).toContain(`<strong>${relay.flags.join(" ")}</strong>`);
    expect(row.match(/<td>[A-Za-z ]*Running[A-Za-z ]*<\/td>/g)!.length).toBeGreaterThanOrEqual(3);
  });

  it("give a consensus that clients accept with 2 of the 3 signatures and refuse with 1", async () => {
    const signed = await servedWhere((s) => s.signatures.length === 3);
    const keep = (authorities: string[]) => ({ ...signed, signatures: signed.signatures.filter((s) => authorities.includes(s.authority)) });
    const two = keep([keys[0]!, keys[2]!]);
    const one = keep([keys[1]!]);
    expect(await verifyConsensus(two, keys, Date.now())).toEqual(JSON.parse(signed.document));
    await expect(verifyConsensus(one, keys, Date.now())).rejects.toMatchObject({ code: "bad_signature" });

    // The CLI, pinning the real authorities' keys at addresses that serve the trimmed envelopes.
    for (const [envelope, accepted] of [[two, true], [one, false]] as const) {
      const stand = await serveConsensus(envelope);
      try {
        const before = origin.received.length;
        const args = [...keys.flatMap((key, i) => ["--authority", `${key}@${stand.urls[i]}`]), "--family-rule", "off", "--state-dir", join(mesh.stateDir, "two-of-three")];
        const run = await onion(["fetch", ...args, `${origin.url}/two-of-three`]);
        if (accepted) {
          expect(run.stderr).toBe("");
          expect(run.code).toBe(0);
          expect(run.stdout).toBe("through the network");
          expect(origin.received.length).toBe(before + 1);
        } else {
          expect(run.code).toBe(1);
          expect(run.stderr).toMatch(/^onion: No consensus the authorities served is signed by more than half \(2\) of the 3 pinned authorities .*from 1 of the 3/);
          expect(origin.received.length).toBe(before);
        }
      } finally {
        await stand.close();
      }
    }
  });

  it("go on with one authority stopped: relays are listed, new ones too, and circuits build", async () => {
    signal("authority-2", "SIGSTOP");
    const frozenAt = Date.now();
    let added: string | undefined;
    try {
      // A round computed after the freeze, signed by the two that are up, from their two votes.
      const signed = await servedWhere((s, d) => d.published > frozenAt && s.signatures.length === 2);
      expect(signersOf(signed)).toEqual([keys[0]!, keys[2]!].sort());
      expect((JSON.parse(signed.document) as ConsensusDocument).voters).toEqual([keys[0]!, keys[2]!].sort());

      // A relay added now publishes to all three at once; the two that are up list it.
      const response = await fetch(`${mesh.urls.relay}/relays`, { method: "POST", headers: ADMIN });
      expect(response.status).toBe(201);
      added = ((await response.json()) as { id: string }).id;
      await servedWhere((s, d) => s.signatures.length === 2 && d.relays.some((r) => r.id === added));

      // The gateway builds new circuits; the CLI, pinning all three, does too.
      for (let i = 0; i < 5; i++) {
        const answer = await fetch(`${mesh.urls.relay}/fetch?url=${encodeURIComponent(`${origin.url}/stopped/${i}`)}`, { headers: { "onion-new-circuit": "1" } });
        expect(answer.status).toBe(200);
        expect(await answer.text()).toBe("through the network");
      }
      const run = await onion(["fetch", ...networkArgs(mesh), `${origin.url}/stopped/cli`]);
      expect(run.stderr).toBe("");
      expect(run.code).toBe(0);
      expect(run.stdout).toBe("through the network");
    } finally {
      signal("authority-2", "SIGCONT");
    }
    // Back: it votes and signs again.
    await servedWhere((s) => s.signatures.length === 3, 60_000);
    if (added) {
      expect((await fetch(`${mesh.urls.relay}/relays/${added}`, { method: "DELETE", headers: ADMIN })).status).toBe(200);
      await consensusWhere(mesh, (d) => !d.relays.some((r) => r.id === added));
    }
  }, 150_000);

  it("let one compromised authority neither add a relay nor drop one", async () => {
    // Authority 3's key is stolen; the real authority 3 is frozen, and the thief votes in its name.
    const seed = (JSON.parse(readFileSync(join(mesh.stateDir, "authority-3-key.json"), "utf8")) as { seed: string }).seed;
    const stolen = await importEd25519(fromBase64Url(seed));
    expect(toBase64Url(stolen.publicKey)).toBe(keys[2]);
    // A relay nobody tested, at an address where nothing listens.
    const identity = await generateEd25519();
    const id = await relayIdFor(identity.publicKey);
    const fake: ListedRelay = {
      id,
      address: `http://127.0.0.1:${await freePort()}/relays/${id}`,
      onionKey: toBase64Url((await generateX25519()).publicKey),
      identityKey: toBase64Url(identity.publicKey),
      exitPolicy: "all",
      published: Date.now(),
      flags: ["Exit", "Guard", "Running", "Stable"],
    };
    const before = JSON.parse((await servedWhere((s) => s.signatures.length === 3)).document) as ConsensusDocument;
    const period = (before.validUntil - before.published) / 3;
    // One that is up: a relay retired by an earlier test, listed until the next round, would leave
    // the consensus whatever the thief voted.
    const victim = await liveRelay(before);

    signal("authority-3", "SIGSTOP");
    const frozenAt = Date.now();
    try {
      const seen: ConsensusDocument[] = [];
      let counted = false;
      const until = Date.now() + 5 * period;
      while (Date.now() < until || !counted) {
        if (Date.now() > until + 10 * period) throw new Error("the stolen key's votes were never counted");
        // The thief's vote for this round and the next: the fake relay in, the victim out, every flag on.
        const honest = (JSON.parse((await served(mesh.urls.directory)).document) as ConsensusDocument).relays;
        const round = Math.floor(Date.now() / period) * period;
        for (const published of [round, round + period]) {
          const relays = [...honest.filter((r) => r.id !== victim.id), fake].map((r) => ({ ...r, flags: ["Exit", "Guard", "Running", "Stable"] as ListedRelay["flags"] }));
          const vote = await signVote({ version: 1, authority: keys[2]!, published, relays }, stolen.privateKey);
          for (const url of mesh.urls.directories.slice(0, 2)) await fetch(`${url}/votes`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(vote) });
        }
        const signed = await served(mesh.urls.directory);
        const document = JSON.parse(signed.document) as ConsensusDocument;
        if (document.published > frozenAt && !seen.some((d) => d.published === document.published)) {
          seen.push(document);
          counted ||= document.voters.includes(keys[2]!);
          // Signed by the two honest authorities, whatever the third voted.
          expect(signersOf(signed)).toEqual([keys[0]!, keys[1]!].sort());
          expect(document.relays.map((r) => r.id)).not.toContain(fake.id);
          expect(document.relays.map((r) => r.id)).toContain(victim.id);
        }
        await sleep(500);
      }
      // The thief's votes were counted (it was one of the voters), and still changed nothing.
      expect(seen.some((d) => d.voters.includes(keys[2]!))).toBe(true);

      // Nor can it sign a consensus of its own that clients take: one signature of three.
      const forged = { ...before, published: Date.now(), validUntil: Date.now() + 60_000, relays: [...before.relays, fake] };
      const text = serializeConsensus(forged);
      const alone = { document: text, signatures: [await signConsensusText(text, keys[2]!, stolen.privateKey)] };
      await expect(verifyConsensus(alone, keys, Date.now())).rejects.toMatchObject({ code: "bad_signature" });
    } finally {
      signal("authority-3", "SIGCONT");
    }
    await servedWhere((s) => s.signatures.length === 3, 60_000);
    await consensusWhere(mesh, (d) => d.relays.some((r) => r.id === victim.id));
  }, 150_000);
});
