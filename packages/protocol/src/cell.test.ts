import { describe, expect, it } from "vitest";
import { type Bytes, concat, fromHex, toHex } from "./bytes.ts";
import { CELL_VERSION, CONTROL_CELL_BYTES, type Cell, CellCommand, DestroyReason, LINK_ID_BYTES, decodeCell, encodeCell } from "./cell.ts";
import { ProtocolError } from "./errors.ts";
import { NTOR_ONIONSKIN_BYTES, NTOR_REPLY_BYTES } from "./ntor.ts";

const linkId = Uint8Array.from({ length: LINK_ID_BYTES }, (_, i) => 0xa0 + i);
const filled = (length: number, seed: number): Bytes => Uint8Array.from({ length }, (_, i) => (seed + i * 13) & 255);

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error("expected a throw");
}

const expectCode = (bytes: Bytes, code: string) => {
  const error = thrown(() => decodeCell(bytes));
  expect(error).toBeInstanceOf(ProtocolError);
  expect(error).toMatchObject({ code });
};

const header = (command: number) => concat(Uint8Array.of(CELL_VERSION, command), linkId);
/** A control cell: header, fields, zero padding to CONTROL_CELL_BYTES. */
const control = (command: number, fields: Bytes) => {
  const cell = new Uint8Array(CONTROL_CELL_BYTES);
  cell.set(concat(header(command), fields));
  return cell;
};
const zeros = (n: number) => "00".repeat(n);

const cells: [string, Cell][] = [
  ["CREATE2", { command: CellCommand.CREATE2, linkId, onionskin: filled(NTOR_ONIONSKIN_BYTES, 1) }],
  ["CREATED2", { command: CellCommand.CREATED2, linkId, reply: filled(NTOR_REPLY_BYTES, 2) }],
  ["RELAY (512)", { command: CellCommand.RELAY, linkId, nonce: filled(16, 3), payload: filled(512, 4) }],
  ["RELAY (4096)", { command: CellCommand.RELAY, linkId, nonce: filled(16, 5), payload: filled(4096, 6) }],
  ["DESTROY", { command: CellCommand.DESTROY, linkId, reason: DestroyReason.INTEGRITY }],
];

describe("link cell codec", () => {

  it.each(cells)("round-trips a %s cell", (_, cell) => {
    expect(decodeCell(encodeCell(cell))).toEqual(cell);
  });

  it("lays out each command as documented: version, command, link id, the fields, zero padding", () => {
    const id = toHex(linkId);
    const pad = (hex: string) => hex + zeros(CONTROL_CELL_BYTES - hex.length / 2);
    expect(toHex(encodeCell({ command: CellCommand.DESTROY, linkId, reason: 5 }))).toBe(pad(`0104${id}05`));
    const create = toHex(encodeCell({ command: CellCommand.CREATE2, linkId, onionskin: new Uint8Array(NTOR_ONIONSKIN_BYTES) }));
    expect(create).toBe(pad(`0101${id}00020060${zeros(96)}`));
    const created = toHex(encodeCell({ command: CellCommand.CREATED2, linkId, reply: new Uint8Array(NTOR_REPLY_BYTES) }));
    expect(created).toBe(pad(`0102${id}0040${zeros(64)}`));
    const relay = encodeCell({ command: CellCommand.RELAY, linkId, nonce: filled(16, 9), payload: new Uint8Array(512) });
    expect(relay.length).toBe(2 + 16 + 16 + 512);
    expect(toHex(relay.subarray(0, 34))).toBe(`0103${id}${toHex(filled(16, 9))}`);
  });

  it("makes every control cell exactly as long as the smallest RELAY cell, so a link shows only bucket sizes", () => {
    const smallestRelay = encodeCell({ command: CellCommand.RELAY, linkId, nonce: filled(16, 9), payload: new Uint8Array(512) }).length;
    expect(CONTROL_CELL_BYTES).toBe(smallestRelay);
    for (const [, cell] of cells) {
      const length = encodeCell(cell).length;
      expect(length - 34 >= 512 && ((length - 34) & (length - 35)) === 0).toBe(true);
    }
  });
});

describe("decodeCell refuses malformed cells", () => {
  it("refuses a cell shorter than its header", () => {
    expectCode(new Uint8Array(0), "malformed_cell");
    expectCode(header(CellCommand.DESTROY).subarray(0, 17), "malformed_cell");
  });

  it.each([0, 2, 255])("refuses cell version %d", (version) => {
    const cell = encodeCell({ command: CellCommand.DESTROY, linkId, reason: 0 });
    cell[0] = version;
    expectCode(cell, "malformed_cell");
  });

  it.each([0, 5, 255])("refuses the unknown command %d with unknown_command", (command) => {
    expectCode(control(command, new Uint8Array(1)), "unknown_command");
  });

  it.each([CellCommand.CREATE2, CellCommand.CREATED2, CellCommand.DESTROY])("refuses a control cell (command %d) of any length but the smallest cell's", (command) => {
    const good = encodeCell(cells.find(([, cell]) => cell.command === command)![1]);
    expect(decodeCell(good).command).toBe(command);
    expectCode(good.subarray(0, good.length - 1), "malformed_cell");
    expectCode(concat(good, Uint8Array.of(0)), "malformed_cell");
    expectCode(header(command), "malformed_cell");
    expectCode(concat(header(command), Uint8Array.of(0, 2, 0)), "malformed_cell");
  });

  it("refuses a CREATE2 whose length field is not the onionskin's", () => {
    const good = encodeCell({ command: CellCommand.CREATE2, linkId, onionskin: filled(NTOR_ONIONSKIN_BYTES, 1) });
    const wrongField = good.slice();
    wrongField[21] = NTOR_ONIONSKIN_BYTES - 1;
    expectCode(wrongField, "malformed_cell");
  });

  it("refuses a CREATE2 with a handshake type other than ntor", () => {
    const cell = encodeCell({ command: CellCommand.CREATE2, linkId, onionskin: filled(NTOR_ONIONSKIN_BYTES, 1) });
    cell[19] = 1;
    expectCode(cell, "handshake_failed");
  });

  it("refuses a CREATED2 whose length field is not the reply's", () => {
    const good = encodeCell({ command: CellCommand.CREATED2, linkId, reply: filled(NTOR_REPLY_BYTES, 2) });
    const wrongField = good.slice();
    wrongField[19] = NTOR_REPLY_BYTES - 1;
    expectCode(wrongField, "malformed_cell");
  });

  it("refuses a RELAY cell too short to hold its nonce", () => {
    expectCode(concat(header(CellCommand.RELAY), new Uint8Array(15)), "malformed_cell");
  });

  it.each([0, 1, 511, 513, 768, 1000, 1536])("refuses a RELAY payload of %d bytes, which is not a bucket size", (length) => {
    expectCode(concat(header(CellCommand.RELAY), new Uint8Array(16 + length)), "malformed_cell");
  });

  it("accepts a cell that is a view into a larger buffer", () => {
    const encoded = encodeCell({ command: CellCommand.DESTROY, linkId, reason: 3 });
    const backing = concat(fromHex("ffff"), encoded);
    expect(decodeCell(backing.subarray(2))).toEqual({ command: CellCommand.DESTROY, linkId, reason: 3 });
  });
});
