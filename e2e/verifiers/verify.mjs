// verify.mjs checks one webhook delivery with the receivers' own verifier libraries, as a
// receiver written against each of them would: e2e/verifiers_test.go feeds it real hooktap
// deliveries.
//
// Standard input: one JSON object
//   {"body_b64": "<the raw body, base64>", "headers": {"<lower-case name>": "<value>", ...},
//    "secret": "<the secret the receiver holds>", "libs": ["standardwebhooks", ...]}
// ("libs" optional: all four by default; when given, a non-empty list). A secret that starts
// with "whsec_" is handed to the Standard Webhooks libraries as it is (they decode the base64
// after the prefix); any other one with {format: "raw"}, which makes each UTF-16 code unit of
// the string one key byte: the secret's bytes, as hooktap keys webhook-signature, for ASCII
// secrets (a receiver with a non-ASCII raw secret must pass its UTF-8 bytes as a Uint8Array).
// The GitHub libraries get the whole string, whsec_ prefix included (node's createHmac keys
// with its UTF-8 bytes), as hooktap keys X-Hub-Signature(-256) for every secret.
//
// Standard output: one JSON line per library, {"lib": ..., "ok": true|false, "error": ...}.
// Exit status 0 when every library verified the delivery, 1 when one did not, 2 on bad input.
import { Webhook as StandardWebhook } from "standardwebhooks";
import { Webhook as SvixWebhook } from "svix";
import { verify as octokitVerify } from "@octokit/webhooks-methods";
import { Webhooks } from "@octokit/webhooks";

const chunks = [];
for await (const c of process.stdin) chunks.push(c);
let input;
try {
  input = JSON.parse(Buffer.concat(chunks).toString("utf8"));
} catch (e) {
  console.error(`verify.mjs: standard input is not JSON: ${e.message}`);
  process.exit(2);
}
const { body_b64: bodyB64, headers = {}, secret } = input;
if (typeof bodyB64 !== "string" || typeof secret !== "string" || secret === "") {
  console.error("verify.mjs: want body_b64 and a non-empty secret");
  process.exit(2);
}
const raw = Buffer.from(bodyB64, "base64"); // what express.raw() hands a receiver
const text = raw.toString("utf8"); // what the GitHub libraries take
const swOptions = secret.startsWith("whsec_") ? undefined : { format: "raw" };
const hub = headers["x-hub-signature-256"] ?? "";

const checks = {
  // throws WebhookVerificationError unless a v1 signature matches (and the timestamp is recent)
  standardwebhooks: async () => {
    new StandardWebhook(secret, swOptions).verify(raw, headers);
    return true;
  },
  svix: async () => {
    new SvixWebhook(secret, swOptions).verify(raw, headers);
    return true;
  },
  "@octokit/webhooks-methods": async () => octokitVerify(secret, text, hub),
  "@octokit/webhooks": async () => new Webhooks({ secret }).verify(text, hub),
};

const libs = input.libs ?? Object.keys(checks);
if (!Array.isArray(libs) || libs.length === 0) {
  console.error("verify.mjs: libs must be a non-empty list of library names");
  process.exit(2);
}
let failed = false;
for (const lib of libs) {
  const check = checks[lib];
  if (!check) {
    console.error(`verify.mjs: unknown library ${JSON.stringify(lib)}`);
    process.exit(2);
  }
  let ok = false;
  let error;
  try {
    ok = (await check()) === true;
    if (!ok) error = "signature does not match";
  } catch (e) {
    error = `${e.name}: ${e.message}`;
  }
  if (!ok) failed = true;
  console.log(JSON.stringify(error === undefined ? { lib, ok } : { lib, ok, error }));
}
process.exit(failed ? 1 : 0);
