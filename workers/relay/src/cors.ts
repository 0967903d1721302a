// CORS for the cell endpoint: the browser page builds circuits itself, and relays of other
// deployments live on other origins. A cell carries no cookies or credentials, so any origin may post.

import { cors } from "hono/cors";

export const cellCors = cors({ origin: "*", allowMethods: ["POST"], allowHeaders: ["content-type"], maxAge: 600 });
