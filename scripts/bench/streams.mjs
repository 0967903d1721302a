// Streams in the bench: `onion proxy` (a child process, as a user runs it) carrying HTTPS through
// CONNECT to a loopback HTTPS origin with TCP_NODELAY, each sample paired with the same work done
// directly, interleaved: a GET of 1 KiB on a reused circuit with its TCP connect and full TLS
// handshake, 10 MiB downloads (MB/s), and the relay isolate's peak memory while they run.

import { spawn } from "node:child_process";
import { createServer as createHttpsServer } from "node:https";
import { connect as tcpConnect } from "node:net";
import { delimiter, dirname, join } from "node:path";
import { connect as tlsConnect } from "node:tls";
import { makeTestCa } from "../test-ca.mjs";
import { peakMemory } from "./memory.mjs";
import { summarize, time } from "./stats.mjs";

/** Reads one HTTP/1.1 response with a content-length off `socket`; resolves with its body's length. */
function readResponse(socket) {
  return new Promise((resolve, reject) => {
    let head = null;
    let buffered = Buffer.alloc(0);
    let need = 0;
    let got = 0;
    socket.on("data", (chunk) => {
      if (head === null) {
        buffered = Buffer.concat([buffered, chunk]);
        const end = buffered.indexOf("\r\n\r\n");
        if (end < 0) return;
        head = buffered.subarray(0, end).toString();
        if (!head.startsWith("HTTP/1.1 200")) return reject(new Error(`answered ${head.split("\r\n")[0]}`));
        need = Number(/content-length: (\d+)/i.exec(head)[1]);
        got = buffered.length - end - 4;
      } else got += chunk.length;
      if (got >= need) resolve(got);
    });
    socket.once("error", reject);
    socket.once("end", () => (got < need ? reject(new Error("closed early")) : undefined));
  });
}

/** A TCP connection to the origin, directly or through CONNECT at `proxy`; resolves once bytes can flow. */
function openTcp(port, proxy) {
  return new Promise((resolve, reject) => {
    if (!proxy) {
      const socket = tcpConnect({ port, host: "127.0.0.1", noDelay: true }, () => resolve(socket));
      socket.once("error", reject);
      return;
    }
    const socket = tcpConnect({ port: proxy, host: "127.0.0.1", noDelay: true }, () => socket.write(`CONNECT localhost:${port} HTTP/1.1\r\nHost: localhost:${port}\r\n\r\n`));
    let head = Buffer.alloc(0);
    const onData = (chunk) => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf("\r\n\r\n");
      if (end < 0) return;
      socket.off("data", onData);
      if (!head.subarray(0, 12).toString().startsWith("HTTP/1.1 200")) return reject(new Error(`CONNECT answered ${head.subarray(0, end).toString()}`));
      if (head.length > end + 4) socket.unshift(head.subarray(end + 4));
      resolve(socket);
    };
    socket.on("data", onData);
    socket.once("error", reject);
    // Closed before its answer: a failure to report, not a wait without end (a no-op once resolved).
    socket.once("close", () => reject(new Error("the proxy closed the connection before answering CONNECT")));
  });
}

/** GET `path` over a new TCP connection and a full TLS handshake (no session resumption); resolves with the body's length. */
async function httpsGet(port, path, ca, proxy) {
  const raw = await openTcp(port, proxy);
  const socket = tlsConnect({ socket: raw, servername: "localhost", ca });
  await new Promise((resolve, reject) => {
    socket.once("secureConnect", resolve);
    socket.once("error", reject);
  });
  socket.write(`GET ${path} HTTP/1.1\r\nHost: localhost:${port}\r\nConnection: close\r\n\r\n`);
  const length = await readResponse(socket);
  socket.destroy();
  return length;
}

/** `onion proxy -v --port 0` as a user runs it; `builds()` counts the circuits it has built so far. */
async function startOnionProxy(mesh, root, stateDir) {
  // The bin itself, through its shebang (and the Node flags it sets), with this Node first on PATH.
  const PATH = `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ""}`;
  const child = spawn(join(root, "packages/client/bin/onion.mjs"), ["proxy", "-v", "--port", "0", ...mesh.authorities.flatMap((a) => ["--authority", `${a.key}@${a.url}`]), "--family-rule", mesh.familyRule ? "on" : "off", "--state-dir", join(stateDir, "cli-state")], { cwd: root, env: { ...process.env, PATH }, stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (chunk) => (stderr += chunk));
  const port = await new Promise((resolve, reject) => {
    let stdout = "";
    child.stdout.setEncoding("utf8").on("data", (chunk) => {
      stdout += chunk;
      const match = /listening on http:\/\/127\.0\.0\.1:(\d+) /.exec(stdout);
      if (match) resolve(Number(match[1]));
    });
    child.once("exit", (code) => reject(new Error(`onion proxy exited (${code}): ${stderr}`)));
  });
  return {
    port,
    builds: () => (stderr.match(/building a circuit/g) ?? []).length,
    stop: () => new Promise((resolve) => (child.exitCode !== null ? resolve() : (child.once("exit", resolve), child.kill("SIGTERM")))),
  };
}


/** The stream measurements; `rounds`: { httpsGet, download }. */
export async function measureStreams(mesh, { root, stateDir, rounds, warmup }) {
  const ROUNDS = rounds;
  const WARMUP = warmup;
  console.error("bench: streams (HTTPS through onion proxy's CONNECT, paired with direct)…");
  const ca = makeTestCa();
  const leaf = ca.issue({ dns: ["localhost"] });
  const page = Buffer.from("y".repeat(1024));
  const download = Buffer.alloc(10 * 1024 * 1024, 7);
  const httpsOrigin = createHttpsServer({ ...leaf, noDelay: true }, (request, response) => {
    const answer = request.url === "/10m" ? download : page;
    response.writeHead(200, { "content-type": "application/octet-stream", "content-length": answer.length }).end(answer);
  });
  httpsOrigin.on("secureConnection", (socket) => socket.setNoDelay(true));
  await new Promise((resolve) => httpsOrigin.listen(0, "127.0.0.1", resolve));
  const httpsPort = httpsOrigin.address().port;
  const onionProxy = await startOnionProxy(mesh, root, stateDir);
  let streams;
  try {
    // Pairs, interleaved: direct then through the circuit. A sample during which the proxy built a
    // circuit (its streams' circuit is replaced every 10 s) is left out: this measures a reused one.
    const direct1k = [];
    const onion1k = [];
    let withBuild = 0;
    for (let i = 0; i < WARMUP; i++) {
      await httpsGet(httpsPort, "/1k", ca.ca);
      await httpsGet(httpsPort, "/1k", ca.ca, onionProxy.port);
    }
    while (onion1k.length < ROUNDS.httpsGet) {
      direct1k.push(await time(() => httpsGet(httpsPort, "/1k", ca.ca)));
      const builds = onionProxy.builds();
      const sample = await time(() => httpsGet(httpsPort, "/1k", ca.ca, onionProxy.port));
      if (onionProxy.builds() === builds) onion1k.push(sample);
      else withBuild++;
    }
    const mbps = (ms) => +(download.length / 1e6 / (ms / 1000)).toFixed(1);
    const directDownload = [];
    const onionDownload = [];
    await httpsGet(httpsPort, "/10m", ca.ca, onionProxy.port);
    for (let i = 0; i < ROUNDS.download; i++) {
      directDownload.push(await time(() => httpsGet(httpsPort, "/10m", ca.ca)));
      onionDownload.push(await time(() => httpsGet(httpsPort, "/10m", ca.ca, onionProxy.port)));
    }
    console.error("bench: the isolate's memory while 10 MiB downloads run through it…");
    const oneStream = await peakMemory(mesh.inspectors.relay, () => httpsGet(httpsPort, "/10m", ca.ca, onionProxy.port));
    const fourStreams = await peakMemory(mesh.inspectors.relay, () => Promise.all([0, 1, 2, 3].map(() => httpsGet(httpsPort, "/10m", ca.ca, onionProxy.port))));
    const directGet1k = summarize(direct1k);
    const onionGet1k = summarize(onion1k);
    const directMBps = summarize(directDownload.map(mbps));
    const onionMBps = summarize(onionDownload.map(mbps));
    streams = {
      httpsGet1KiB: { direct: directGet1k, throughConnect: onionGet1k, overDirect: { p50: +(onionGet1k.p50 - directGet1k.p50).toFixed(2), p95: +(onionGet1k.p95 - directGet1k.p95).toFixed(2) }, samplesWithABuildLeftOut: withBuild },
      /** MB/s (10^6 bytes per second) of 10 MiB bodies; p50 is the median rate, "min" the slowest. */
      download10MiB: { direct: { n: directMBps.n, p50: directMBps.p50, slowest: directMBps.min }, throughConnect: { n: onionMBps.n, p50: onionMBps.p50, slowest: onionMBps.min } },
      /** MiB of the relay worker's isolate (entry, middle, exit and gateway all live in it in dev). */
      memoryDuring10MiBDownload: {
        oneStream: { ...oneStream, perStreamMiB: +(oneStream.peakMiB - oneStream.restMiB).toFixed(1) },
        fourStreams: { ...fourStreams, perStreamMiB: +((fourStreams.peakMiB - fourStreams.restMiB) / 4).toFixed(1), eachStreamAfterTheFirstMiB: +((fourStreams.peakMiB - oneStream.peakMiB) / 3).toFixed(1) },
      },
    };
  } finally {
    await onionProxy.stop();
    httpsOrigin.close();
    ca.dispose();
  }

  return streams;
}
