// Which relay addresses this authority considers at all, before any test: public ones (unless the
// dev mesh allows private ones), and, for a closed network, those of the allowed deployment hosts.

import { classifyDestination, deploymentHost } from "@shallot/protocol";
import type { DirectoryErrorCode } from "./directory.ts";
import type { DirectoryConfig } from "./env.ts";

export function addressRefusal(address: string, config: Pick<DirectoryConfig, "allowPrivateRelayAddresses" | "allowedHosts">): { error: DirectoryErrorCode; message: string } | null {
  // Authorities and clients fetch listed addresses: none may point into a private network.
  if (!config.allowPrivateRelayAddresses && classifyDestination(new URL(address)) === "private") {
    return { error: "address_refused", message: "A relay address must be public (loopback, private and link-local addresses are refused)." };
  }
  if (config.allowedHosts && !config.allowedHosts.has(deploymentHost(address))) {
    return { error: "host_not_allowed", message: "This authority admits relays of its allowed deployment hosts only." };
  }
  return null;
}
