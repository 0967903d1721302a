import { describe, expect, it } from "vitest";
import { call, dbSnapshot, expectError, getChallenge, registerSeed, sendJson, shaHex } from "./helpers.ts";

describe("bad input writes nothing", () => {
  // Every case checks that no table gained or lost a row (and none was dropped).
  async function expectRejected(send: () => Promise<Response>, status: number, error: string) {
    const before = await dbSnapshot();
    await expectError(await send(), status, error);
    expect(await dbSnapshot()).toEqual(before);
  }

  const hash = "ab".repeat(32);

  it("rejects bodies that are not JSON, on every POST", async () => {
    for (const path of ["/register", "/challenge", "/login"]) {
      await expectRejected(() => sendJson("POST", path, "{ not json"), 400, "invalid_json");
      await expectRejected(() => sendJson("POST", path, ""), 400, "invalid_json");
    }
  });

  it("rejects missing fields, extra fields and wrong types", async () => {
    await expectRejected(() => sendJson("POST", "/register", { username: "x", mechanism: "sha256" }), 400, "invalid_request");
    await expectRejected(() => sendJson("POST", "/register", { username: "x", mechanism: "sha256", hash, admin: true }), 400, "invalid_request");
    await expectRejected(() => sendJson("POST", "/register", { username: 42, mechanism: "sha256", hash }), 400, "invalid_request");
    // A second spelling of a name (decomposed, or with a trailing space) is refused, not a second account.
    expect((await sendJson("POST", "/register", { username: "caf\u00e9", mechanism: "sha256", hash })).status).toBe(201);
    await expectRejected(() => sendJson("POST", "/register", { username: "cafe\u0301", mechanism: "sha256", hash }), 400, "invalid_request");
    await expectRejected(() => sendJson("POST", "/register", { username: "caf\u00e9 ", mechanism: "sha256", hash }), 400, "invalid_request");
    await expectRejected(() => sendJson("POST", "/register", [1, 2]), 400, "invalid_request");
    await expectRejected(() => sendJson("POST", "/register", null), 400, "invalid_request");
    await expectRejected(() => sendJson("POST", "/register", "\"string\""), 400, "invalid_request");
    await expectRejected(() => sendJson("POST", "/register", { username: "x", mechanism: "sha256", hash: hash.toUpperCase() }), 400, "invalid_request");
    await expectRejected(() => sendJson("POST", "/register", { username: "x", mechanism: "sha512", hash }), 400, "invalid_request");
    await expectRejected(() => sendJson("POST", "/challenge", {}), 400, "invalid_request");
    await expectRejected(() => sendJson("POST", "/challenge", { username: ["a"] }), 400, "invalid_request");
    await expectRejected(() => sendJson("POST", "/login", { username: "x", challengeId: "0".repeat(32) }), 400, "invalid_request");
    await expectRejected(() => sendJson("POST", "/login", { username: "x", challengeId: "zz", response: "00" }), 400, "invalid_request");
    await expectRejected(() => sendJson("POST", "/login", { username: "x", challengeId: "0".repeat(32), response: 5 }), 400, "invalid_request");
  });

  it("rejects unknown mechanisms", async () => {
    for (const mechanism of ["md5", "SHA256", "scram-sha-1", "", null]) {
      await expectRejected(() => sendJson("POST", "/register", { username: "x", mechanism, hash }), 400, "invalid_request");
    }
  });

  it("rejects usernames that are empty, too long or not printable", async () => {
    for (const username of ["", "x".repeat(65), "tab\tname", "line\nbreak", "nul\u0000", "\u202eevil"]) {
      await expectRejected(() => sendJson("POST", "/register", { username, mechanism: "sha256", hash }), 400, "invalid_request");
      await expectRejected(() => sendJson("POST", "/challenge", { username }), 400, "invalid_request");
    }
  });

  it("rejects a login for a real challenge whose body is malformed, and leaves the challenge unspent", async () => {
    await registerSeed("careful", "pw");
    const challenge = await getChallenge("careful");
    await expectRejected(() => sendJson("POST", "/login", { username: "careful", challengeId: challenge.challengeId, response: "" }), 400, "invalid_request");
    await expectRejected(() => sendJson("POST", "/login", { username: "careful", challengeId: challenge.challengeId, response: "x".repeat(257) }), 400, "invalid_request");
    const response = await sendJson("POST", "/login", { username: "careful", challengeId: challenge.challengeId, response: await shaHex("sha256", (await shaHex("sha256", "pw")) + challenge.nonce) });
    expect(response.status).toBe(200);
  });

  it("rejects a body over 16 KiB", async () => {
    const big = JSON.stringify({ username: "x", mechanism: "sha256", hash, pad: "x".repeat(17 * 1024) });
    await expectRejected(() => sendJson("POST", "/register", big), 413, "payload_too_large");
    await expectRejected(() => sendJson("POST", "/login", big), 413, "payload_too_large");
  });

  it("answers unknown routes and methods with a JSON 404", async () => {
    await expectRejected(() => call("/nowhere"), 404, "not_found");
    await expectRejected(() => call("/register"), 404, "not_found");
    await expectRejected(() => call("/me", { method: "POST" }), 404, "not_found");
  });
});
