// A local program's TCP connection spliced to a stream through a circuit (after CONNECT's 200, or
// SOCKS5's success reply): bytes both ways, each direction only as fast as its reader takes them.

import type { Socket } from "node:net";
import type { ClientStream } from "@shallot/protocol";
import { streamSocket } from "./stream-socket.ts";

/**
 * Splices `local` and `stream`; `early` are bytes the program sent before the stream was open.
 * Resolves once both are closed. Either side closing ends the other: the server's close reaches the
 * program as a FIN after its last bytes, the program's close ends the stream (END); a reset or a
 * failed circuit tears both down.
 */
export function splice(local: Socket, stream: ClientStream, early?: Buffer): Promise<void> {
  const remote = streamSocket(stream);
  if (early && early.length > 0) remote.write(early);
  local.pipe(remote);
  remote.pipe(local);
  const tearDown = () => {
    local.destroy();
    remote.destroy();
  };
  remote.on("error", tearDown);
  local.on("error", tearDown);
  // The program went away (a reset, or both directions done): nothing more can reach it.
  local.on("close", () => remote.destroy());
  return new Promise((resolve) => {
    let open = 2;
    const closed = () => void (--open === 0 && resolve());
    local.once("close", closed);
    remote.once("close", closed);
  });
}
