// TLS on the user's machine, over a stream through a circuit: the exit carries records it cannot
// read. The server's certificate is checked against the system's trust store and Node's bundled
// roots (or only the certificates of --cacert FILE, as curl's --cacert), with SNI and the host
// name check on.

import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import type { Duplex } from "node:stream";
import * as tls from "node:tls";
import { CliError } from "../errors.ts";

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** The roots a server certificate must chain to: the system store, Node's bundle and NODE_EXTRA_CA_CERTS. */
export function defaultRoots(): string[] {
  const get = (tls as { getCACertificates?: (type: "default" | "system") => string[] }).getCACertificates;
  // Node before 22.15 has no access to the system store: its bundled roots only.
  if (!get) return [...tls.rootCertificates];
  return [...new Set([...get("default"), ...get("system")])];
}

/** The certificates of a PEM file (--cacert): these alone are trusted then. */
export function readCaFile(path: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new CliError("cacert_unreadable", `cannot read the --cacert file '${path}' (${(error as { code?: string }).code ?? "error"})`, 400);
  }
  const certificates = text.match(PEM_CERTIFICATE) ?? [];
  if (certificates.length === 0) throw new CliError("cacert_invalid", `'${path}' holds no PEM certificate (-----BEGIN CERTIFICATE-----)`, 400);
  return certificates;
}

/** One context for every connection of a run: parsing hundreds of roots per handshake costs milliseconds. */
export function trustContext(cacert?: string): tls.SecureContext {
  const ca = cacert === undefined ? defaultRoots() : readCaFile(cacert);
  try {
    return tls.createSecureContext({ ca });
  } catch {
    throw new CliError("cacert_invalid", `the certificates of '${cacert}' cannot be parsed`, 400);
  }
}

/** A URL's host as TLS checks it: without the brackets of an IPv6 literal or a final dot. */
export const tlsHost = (hostname: string): string => hostname.replace(/^\[|\]$/g, "").replace(/\.$/, "");

/** Codes of a certificate that does not verify (OpenSSL's, and Node's host name check). */
const CERTIFICATE_FAILURES = /^(ERR_TLS_CERT_ALTNAME_INVALID|UNABLE_TO_|SELF_SIGNED_|DEPTH_ZERO_|CERT_|HOSTNAME_MISMATCH|INVALID_CA|PATH_LENGTH_EXCEEDED|INVALID_PURPOSE)/;

/** The CliError for a failed handshake with `host`. */
export function tlsFailure(host: string, error: unknown): CliError {
  const code = (error as { code?: unknown }).code;
  const reason = error instanceof Error ? error.message : String(error);
  if (typeof code === "string" && CERTIFICATE_FAILURES.test(code)) {
    return new CliError("certificate_invalid", `the certificate of ${host} does not verify (${code}): ${reason}; nothing was sent`, 502);
  }
  return new CliError("tls_failed", `the TLS handshake with ${host} failed: ${reason}`, 502);
}

/** Runs the TLS handshake over `socket`; resolves once the certificate and the name are verified. */
export function connectTls(socket: Duplex, hostname: string, context: tls.SecureContext): Promise<tls.TLSSocket> {
  const host = tlsHost(hostname);
  return new Promise((resolve, reject) => {
    const secure = tls.connect({
      socket,
      host,
      // SNI names the server; an IP address is never sent as a name (RFC 6066 section 3).
      ...(isIP(host) ? {} : { servername: host }),
      secureContext: context,
      rejectUnauthorized: true,
      ALPNProtocols: ["http/1.1"],
    });
    const failed = (error: Error) => {
      secure.destroy();
      reject(tlsFailure(host, error));
    };
    secure.once("error", failed);
    secure.once("secureConnect", () => {
      secure.off("error", failed);
      resolve(secure);
    });
  });
}
