import { connect } from "node:net";
import { createServer } from "node:tls";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
// @ts-expect-error -- plain ESM script (openssl 3), shared with the e2e tests and the bench
import { makeTestCa } from "../../../../scripts/test-ca.mjs";
import { CliError } from "../errors.ts";
import { connectTls, defaultRoots, readCaFile, tlsHost, trustContext } from "./tls.ts";

type Ca = { caFile: string; ca: string; issue(names: { dns?: string[]; ip?: string[] }): { key: string; cert: string }; dispose(): void };
let ca: Ca;
let scratch: string;
const servers: { port: number; close(): void }[] = [];

async function tlsServer(certificate: { key: string; cert: string }) {
  const server = createServer(certificate, (socket) => socket.end("hello"));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const entry = { port: (server.address() as { port: number }).port, close: () => server.close() };
  servers.push(entry);
  return entry.port;
}

/** TLS over a plain TCP socket, as it runs over a stream's Duplex. */
const handshake = (port: number, hostname: string, cacert?: string) => connectTls(connect(port, "127.0.0.1"), hostname, trustContext(cacert));

beforeAll(() => {
  ca = makeTestCa();
  scratch = mkdtempSync(join(tmpdir(), "onion-tls-"));
});
afterAll(() => {
  for (const server of servers) server.close();
  ca?.dispose();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

describe("TLS run by the client", () => {
  it("trusts the system's roots and Node's by default", () => {
    const roots = defaultRoots();
    expect(roots.length).toBeGreaterThan(100);
    expect(new Set(roots).size).toBe(roots.length);
  });

  it("verifies the chain and the name (SNI sent), and checks IP addresses against IP names", async () => {
    const port = await tlsServer(ca.issue({ dns: ["localhost"], ip: ["127.0.0.1"] }));
    const byName = await handshake(port, "localhost", ca.caFile);
    expect(byName.authorized).toBe(true);
    byName.destroy();
    const byAddress = await handshake(port, "127.0.0.1", ca.caFile);
    expect(byAddress.authorized).toBe(true);
    byAddress.destroy();
  });

  it("refuses an unknown CA and a certificate for another name, saying so", async () => {
    const port = await tlsServer(ca.issue({ dns: ["localhost"] }));
    await expect(handshake(port, "localhost")).rejects.toMatchObject({ code: "certificate_invalid", message: expect.stringMatching(/^the certificate of localhost does not verify \(UNABLE_TO_/) });
    await expect(handshake(port, "elsewhere.test", ca.caFile)).rejects.toMatchObject({ code: "certificate_invalid", message: expect.stringMatching(/ERR_TLS_CERT_ALTNAME_INVALID/) });
    await expect(handshake(port, "127.0.0.1", ca.caFile)).rejects.toMatchObject({ code: "certificate_invalid" });
  });

  it("reads --cacert files, and says what is wrong with one", () => {
    expect(readCaFile(ca.caFile)).toHaveLength(1);
    const empty = join(scratch, "empty.pem");
    writeFileSync(empty, "not a certificate\n");
    expect(() => readCaFile(empty)).toThrow(CliError);
    expect(() => readCaFile(empty)).toThrow(/holds no PEM certificate/);
    expect(() => readCaFile(join(scratch, "missing.pem"))).toThrow(/cannot read the --cacert file .* \(ENOENT\)/);
  });

  it("checks hosts without brackets or a final dot", () => {
    expect(tlsHost("[::1]")).toBe("::1");
    expect(tlsHost("example.com.")).toBe("example.com");
  });
});
