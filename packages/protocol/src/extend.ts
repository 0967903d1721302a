// EXTEND2 / EXTENDED2 bodies: how the client asks the last hop to open the next link.

import { type Bytes, ByteReader, ByteWriter, fromUtf8, utf8 } from "./bytes.ts";
import { ProtocolError } from "./errors.ts";
import { NTOR_ONIONSKIN_BYTES, RELAY_ID_BYTES } from "./ntor.ts";

export interface Extend2 {
  /** Base URL of the next relay (its descriptor's address). */
  address: string;
  /** ID | B | X for the next relay; its first 32 bytes are the relay id. */
  onionskin: Bytes;
}

export const MAX_ADDRESS_BYTES = 2048;

export function encodeExtend2(extend: Extend2): Bytes {
  const address = utf8(extend.address);
  if (address.length > MAX_ADDRESS_BYTES) throw new ProtocolError("malformed_message", "The relay address is too long.");
  return new ByteWriter(2 + address.length + extend.onionskin.length).u16(address.length).raw(address).raw(extend.onionskin).bytes;
}

export function decodeExtend2(data: Bytes): Extend2 & { relayId: Bytes } {
  try {
    const reader = new ByteReader(data);
    const length = reader.u16();
    if (length > MAX_ADDRESS_BYTES) throw new RangeError("address too long");
    const address = fromUtf8(reader.raw(length));
    const onionskin = reader.raw(NTOR_ONIONSKIN_BYTES);
    if (reader.remaining !== 0) throw new RangeError("trailing bytes");
    const url = new URL(address);
    if (url.protocol !== "http:" && url.protocol !== "https:") throw new RangeError("not http");
    return { address, onionskin, relayId: onionskin.subarray(0, RELAY_ID_BYTES) };
  } catch {
    throw new ProtocolError("malformed_message", "EXTEND2 is malformed.");
  }
}
