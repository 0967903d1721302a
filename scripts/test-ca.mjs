// A certificate authority made for one test run or benchmark (openssl 3): its root and server
// certificates it issues, as PEM. Never trusted by anything but the run that made it.

import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const openssl = (args, cwd) => execFileSync("openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
const KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];

/**
 * A fresh CA named `name`. `issue({ dns, ip })` returns { key, cert } for a server certificate with
 * those subject alternative names. `caFile` is its root as a PEM file; `dispose()` deletes it.
 */
export function makeTestCa(name = "Shallot test CA") {
  const dir = mkdtempSync(join(tmpdir(), "shallot-ca-"));
  openssl(["req", "-x509", ...KEY, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", `/CN=${name}`, "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"], dir);
  let serial = 0;
  return {
    caFile: join(dir, "ca.pem"),
    ca: readFileSync(join(dir, "ca.pem"), "utf8"),
    issue({ dns = [], ip = [] } = {}) {
      const id = `leaf${++serial}`;
      const names = [...dns.map((d) => `DNS:${d}`), ...ip.map((i) => `IP:${i}`)].join(",");
      openssl(["req", ...KEY, "-keyout", `${id}.key`, "-out", `${id}.csr`, "-subj", `/CN=${dns[0] ?? ip[0] ?? "server"}`], dir);
      writeFileSync(join(dir, `${id}.ext`), `subjectAltName=${names}\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n`);
      openssl(["x509", "-req", "-in", `${id}.csr`, "-CA", "ca.pem", "-CAkey", "ca.key", "-set_serial", String(1000 + serial), "-days", "2", "-extfile", `${id}.ext`, "-out", `${id}.pem`], dir);
      return { key: readFileSync(join(dir, `${id}.key`), "utf8"), cert: readFileSync(join(dir, `${id}.pem`), "utf8") };
    },
    dispose: () => rmSync(dir, { recursive: true, force: true }),
  };
}
