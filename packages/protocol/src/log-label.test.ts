import { describe, expect, it } from "vitest";
import { ProtocolError } from "./errors.ts";
import { logLabel } from "./log-label.ts";

describe("logLabel", () => {
  it("names the class and the code, never the message", () => {
    const secret = "https://destination.example/path?q=secret";
    expect(logLabel(new TypeError(`Fetch API cannot load: ${secret}`))).toBe("TypeError");
    expect(logLabel(new ProtocolError("extend_failed", `could not reach ${secret}`))).toBe("ProtocolError (extend_failed)");
    expect(logLabel(Object.assign(new Error(`connect ECONNREFUSED ${secret}`), { code: "ECONNREFUSED" }))).toBe("Error (ECONNREFUSED)");
    expect(logLabel(new SyntaxError(`Unexpected token, "{${secret}" is not valid JSON`))).toBe("SyntaxError");
  });

  it("does not pass on a name or a code that could carry text of its own", () => {
    const error = Object.assign(new Error("x"), { name: "user-agent: secret", code: "a code with spaces" });
    expect(logLabel(error)).toBe("Error");
    expect(logLabel("thrown string with a secret")).toBe("string");
    expect(logLabel({ message: "secret" })).toBe("object");
  });
});
