// The official TypeScript MCP client (the one inside the MCP Inspector and hosted connectors) through
// persona-mcp's built-in OAuth authorization server. Run by tests/oauth/test_typescript_oauth_client.py:
//
//   node oauth.mjs plan.json
//
// plan.json: { url, grantToken, redirectUrl, untick: [scope...], tool }. The SDK discovers the
// authorization server, registers, and sends the "browser" to the authorization URL; the browser here is
// fetch: it signs in on the consent page with the grant token, unticks the scopes named, allows, and
// hands the code back (`finishAuth`). Then the tools are listed and one is called; the access token is
// then spoiled so the SDK must refresh, and the tool is called again. Last, the client revokes its
// refresh token (RFC 7009) and its next call is refused. Prints one JSON summary line.

import { readFileSync } from "node:fs";

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { UnauthorizedError } from "@modelcontextprotocol/sdk/client/auth.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const plan = JSON.parse(readFileSync(process.argv[2], "utf8"));

/** A browser with a cookie jar that does not follow redirects (the test reads each one). */
class Browser {
  constructor() {
    this.cookies = new Map();
  }

  async go(url, init = {}) {
    const cookie = [...this.cookies].map(([name, value]) => `${name}=${value}`).join("; ");
    const headers = { ...(init.headers ?? {}), ...(cookie ? { cookie } : {}) };
    const response = await fetch(url, { ...init, headers, redirect: "manual" });
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(";");
      const at = pair.indexOf("=");
      this.cookies.set(pair.slice(0, at), pair.slice(at + 1));
    }
    return response;
  }

  async post(url, body) {
    return this.go(url, {
      method: "POST",
      body,
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
  }
}

function hiddenFields(html) {
  const fields = new URLSearchParams();
  for (const match of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) {
    fields.append(match[1], match[2]);
  }
  return fields;
}

function expect(response, status, what) {
  if (response.status !== status) {
    throw new Error(`${what}: expected HTTP ${status}, got ${response.status}`);
  }
}

/** The person in the browser: consent page to code. */
async function consent(authorizationUrl) {
  const browser = new Browser();
  let response = await browser.go(authorizationUrl);
  expect(response, 302, "authorize");
  const consentUrl = new URL(response.headers.get("location"), authorizationUrl);
  response = await browser.go(consentUrl);
  expect(response, 200, "consent page");
  const signIn = hiddenFields(await response.text());
  signIn.append("grant_token", plan.grantToken);
  response = await browser.post(new URL("/oauth/consent", consentUrl), signIn);
  expect(response, 200, "sign-in");
  const html = await response.text();
  const answer = hiddenFields(html);
  for (const match of html.matchAll(/<input type="checkbox" name="scope" value="([^"]+)"( checked)?>/g)) {
    if (match[2] && !plan.untick.includes(match[1])) {
      answer.append("scope", match[1]);
    }
  }
  answer.append("decision", "allow");
  response = await browser.post(new URL("/oauth/consent", consentUrl), answer);
  expect(response, 303, "consent");
  const back = new URL(response.headers.get("location"));
  return { code: back.searchParams.get("code"), state: back.searchParams.get("state") };
}

class Provider {
  constructor() {
    this.saved = [];
    this.stateSent = undefined;
  }
  get redirectUrl() {
    return plan.redirectUrl;
  }
  get clientMetadata() {
    return {
      client_name: "TypeScript SDK client",
      redirect_uris: [plan.redirectUrl],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
    };
  }
  state() {
    this.stateSent = `ts-${Date.now()}`;
    return this.stateSent;
  }
  clientInformation() {
    return this.client;
  }
  saveClientInformation(info) {
    this.client = info;
  }
  tokens() {
    return this.current;
  }
  saveTokens(tokens) {
    this.current = tokens;
    this.saved.push(tokens);
  }
  async redirectToAuthorization(url) {
    if (this.revoked) {
      // After the revocation the person is not asked again: the SDK's wish to start over is noted.
      this.askedAgain = true;
      return;
    }
    this.answer = await consent(url);
  }
  saveCodeVerifier(verifier) {
    this.verifier = verifier;
  }
  codeVerifier() {
    return this.verifier;
  }
}

const provider = new Provider();
const client = new Client({ name: "ts-oauth", version: "1.0.0" });
let transport = new StreamableHTTPClientTransport(new URL(plan.url), { authProvider: provider });
let challenged = false;
try {
  await client.connect(transport);
} catch (error) {
  if (!(error instanceof UnauthorizedError)) {
    throw error;
  }
  challenged = true;
  await transport.finishAuth(provider.answer.code);
  transport = new StreamableHTTPClientTransport(new URL(plan.url), { authProvider: provider });
  await client.connect(transport);
}
const tools = (await client.listTools()).tools.map((tool) => tool.name);
const first = await client.callTool({ name: plan.tool, arguments: {} });
const issued = provider.current;
provider.current = { ...issued, access_token: "pmat_spoiled" };
const second = await client.callTool({ name: plan.tool, arguments: {} });
const refreshed = provider.current;

// RFC 7009: the client revokes its refresh token at the revocation endpoint the metadata names; the
// whole family goes, the current access token with it. A raw call with that token is then refused, and
// so is the SDK's next call (its refresh is refused too: the pinned SDK raises InvalidGrantError, or
// UnauthorizedError once it asks for a new authorization, which this person does not give).
const metadata = await (await fetch(new URL("/.well-known/oauth-authorization-server", plan.url))).json();
const revocation = await fetch(metadata.revocation_endpoint, {
  method: "POST",
  headers: { "content-type": "application/x-www-form-urlencoded" },
  body: new URLSearchParams({
    token: refreshed.refresh_token,
    token_type_hint: "refresh_token",
    client_id: provider.client.client_id,
  }),
});
provider.revoked = true;
const raw = await fetch(plan.url, {
  method: "POST",
  headers: {
    authorization: `Bearer ${refreshed.access_token}`,
    "content-type": "application/json",
    accept: "application/json, text/event-stream",
  },
  body: JSON.stringify({ jsonrpc: "2.0", id: 99, method: "tools/list" }),
});
let afterRevocation = "accepted";
try {
  await client.callTool({ name: plan.tool, arguments: {} });
} catch (error) {
  afterRevocation = error?.constructor?.name ?? String(error);
}
await client.close();
console.log(
  JSON.stringify({
    challenged,
    stateReturned: provider.answer?.state === provider.stateSent,
    clientId: provider.client?.client_id,
    scope: issued.scope,
    tools,
    firstIsError: Boolean(first.isError),
    secondIsError: Boolean(second.isError),
    refreshed:
      provider.saved.length >= 2 &&
      refreshed.refresh_token !== issued.refresh_token &&
      refreshed.access_token !== "pmat_spoiled",
    revocationStatus: revocation.status,
    revokedTokenStatus: raw.status,
    afterRevocation,
    askedToAuthorizeAgain: Boolean(provider.askedAgain),
  }),
);
