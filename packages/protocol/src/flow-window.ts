// Flow control windows (tor-spec 7.3-7.4), counted in bytes of DATA. The sender spends its window
// and may not send past it; the receiver counts what it has passed on and owes a SENDME of one
// increment each time that reaches an increment. A sender that goes past its window, or a SENDME
// that would grow a window past its size, breaks the protocol.

import { ProtocolError } from "./errors.ts";

/** The sending side: how many more bytes may go out before the receiver acknowledges some. */
export class SendWindow {
  private left: number;
  private readonly size: number;

  constructor(size: number) {
    this.size = size;
    this.left = size;
  }

  get available(): number {
    return this.left;
  }

  spend(bytes: number): void {
    if (bytes > this.left) throw new ProtocolError("malformed_message", "Sent past the flow-control window.");
    this.left -= bytes;
  }

  /** A SENDME: `increment` bytes were passed on by the receiver. */
  grant(increment: number): void {
    if (this.left + increment > this.size) throw new ProtocolError("malformed_message", "A SENDME acknowledged bytes that were never sent.");
    this.left += increment;
  }
}

/** The receiving side: checks the sender keeps to its window and says when a SENDME is owed. */
export class ReceiveWindow {
  /** Received and not yet acknowledged. */
  private outstanding = 0;
  /** Passed on (written to the socket, or read by the application) and not yet acknowledged. */
  private passedOn = 0;
  private readonly size: number;
  private readonly increment: number;

  constructor(size: number, increment: number) {
    this.size = size;
    this.increment = increment;
  }

  received(bytes: number): void {
    if (this.outstanding + bytes > this.size) throw new ProtocolError("malformed_message", "The sender went past its flow-control window.");
    this.outstanding += bytes;
  }

  /** `bytes` were passed on; returns how many SENDMEs (of one increment each) are now owed. */
  passed(bytes: number): number {
    this.passedOn += bytes;
    let owed = 0;
    while (this.passedOn >= this.increment) {
      this.passedOn -= this.increment;
      this.outstanding -= this.increment;
      owed++;
    }
    return owed;
  }
}
