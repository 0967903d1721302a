// `onion`: parse the command line, run one command, and turn any failure into one line on stderr
// and a non-zero exit status — never a stack trace.

import { parseInvocation } from "./args.ts";
import { runLogin, runRegister } from "./commands/auth.ts";
import { runCircuit } from "./commands/circuit.ts";
import { runFetch } from "./commands/fetch.ts";
import { runProxy } from "./commands/proxy.ts";
import { UsageError, describeFailure } from "./errors.ts";
import { errorLine, write } from "./output.ts";

export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** Runs the command line `argv` (without node and the script); resolves with the exit status. */
export async function main(argv: readonly string[]): Promise<number> {
  // A reader that went away (onion fetch … | head) is not an error worth reporting.
  process.stdout.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE") process.exit(0);
  });
  try {
    const invocation = parseInvocation(argv);
    switch (invocation.command) {
      case "help":
        await write(process.stdout, `${invocation.text}\n`);
        return 0;
      case "fetch":
        return await runFetch(invocation.options);
      case "circuit":
        return await runCircuit(invocation.options);
      case "proxy":
        return await runProxy(invocation.options);
      case "register":
        return await runRegister(invocation.options);
      case "login":
        return await runLogin(invocation.options);
    }
  } catch (error) {
    const failure = describeFailure(error);
    await write(process.stderr, errorLine(failure.message)).catch(() => {});
    return error instanceof UsageError ? EXIT_USAGE : EXIT_FAILURE;
  }
}
