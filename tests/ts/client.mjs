// Drives persona-mcp with the official TypeScript MCP client, the one inside Claude Desktop, Cursor,
// VS Code and the MCP Inspector. That client validates more than the Python SDK does (structured
// content against the tool's outputSchema, even on error results), so a call that passes our Python
// tests can still reach an agent as a client-side error. Run by tests/e2e/test_typescript_client.py:
//
//   node client.mjs plan.json
//
// plan.json names the transport (stdio command or streamable HTTP URL + bearer token), the sandbox to
// reset before each call, the tools the grant must list and the calls to make, each with what must come
// back. Prints one JSON summary line on stdout; every broken expectation is listed in it and on stderr,
// and the exit code is 1 when there is any.

import { openSync, readFileSync } from "node:fs";
import { isDeepStrictEqual } from "node:util";

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { AjvJsonSchemaValidator } from "@modelcontextprotocol/sdk/validation/ajv";

/** Where an error result's machine-readable kind lives (src/persona_mcp/server/errors.py). */
const ERROR_META = "persona-mcp/error";

const plan = JSON.parse(readFileSync(process.argv[2], "utf8"));
const failures = [];
const counts = { calls: 0, successes: 0, errors: 0, refusals: 0, prepared: 0, resources: 0 };

function fail(id, message) {
  failures.push({ id, message });
  console.error(`FAIL ${id}: ${message}`);
}

function transportFor(spec) {
  if (spec.kind === "stdio") {
    return new StdioClientTransport({
      command: spec.command,
      args: spec.args,
      env: spec.env,
      stderr: openSync(spec.log, "a"),
    });
  }
  return new StreamableHTTPClientTransport(new URL(spec.url), {
    requestInit: { headers: { Authorization: `Bearer ${spec.token}` } },
  });
}

async function sandbox(path, method, body) {
  const response = await fetch(`${plan.sandbox}/__sandbox__/${path}`, {
    method,
    headers: { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) {
    throw new Error(`sandbox ${method} ${path} answered ${response.status}`);
  }
}

function textOf(result) {
  return (result.content ?? [])
    .filter((block) => block.type === "text")
    .map((block) => block.text)
    .join(" ");
}

async function listAllTools(client) {
  const tools = [];
  let cursor;
  do {
    const page = await client.listTools(cursor === undefined ? {} : { cursor });
    tools.push(...page.tools);
    cursor = page.nextCursor;
  } while (cursor !== undefined);
  return tools;
}

/** A tools/call through the client's own `callTool`, which validates as Claude Desktop's client does. */
async function call(client, id, tool, args) {
  counts.calls += 1;
  try {
    return { result: await client.callTool({ name: tool, arguments: args }) };
  } catch (error) {
    return { thrown: error };
  }
}

/** Reads every resource link of a result through the client's `readResource`, as a desktop client would. */
async function checkResources(client, c, result) {
  const links = (result.content ?? []).filter((block) => block.type === "resource_link");
  if (links.length !== (c.reads === undefined ? 0 : 1)) {
    return fail(c.id, `expected ${c.reads === undefined ? "no" : "one"} resource link, got ${links.length}`);
  }
  for (const link of links) {
    let read;
    try {
      read = await client.readResource({ uri: link.uri });
    } catch (error) {
      return fail(c.id, `reading ${link.uri} failed in the client: ${error.message}`);
    }
    const [contents, ...more] = read.contents;
    if (more.length !== 0 || contents?.uri !== link.uri || contents.mimeType !== c.reads.mime_type) {
      return fail(c.id, `resources/read answered ${JSON.stringify(read).slice(0, 200)}`);
    }
    const bytes = Buffer.from(contents.blob ?? "", "base64");
    if (!bytes.subarray(0, c.reads.starts_with.length).equals(Buffer.from(c.reads.starts_with))) {
      return fail(c.id, `the resource does not start with ${c.reads.starts_with}`);
    }
    if (bytes.length !== link.size || bytes.length !== result.structuredContent?.size) {
      return fail(c.id, `read ${bytes.length} bytes, the result says ${link.size}`);
    }
    counts.resources += 1;
  }
}

function checkSuccess(c, outcome, validators) {
  if (outcome.thrown) {
    return fail(c.id, `the client refused the result: ${outcome.thrown.message}`);
  }
  const result = outcome.result;
  if (result.isError) {
    return fail(c.id, `expected success, got an error result: ${textOf(result)}`);
  }
  if (typeof result.structuredContent !== "object" || result.structuredContent === null) {
    return fail(c.id, "a successful result carries no structuredContent");
  }
  const validate = validators.get(c.tool);
  if (validate === undefined) {
    return fail(c.id, "the tool lists no outputSchema");
  }
  const verdict = validate(result.structuredContent);
  if (!verdict.valid) {
    return fail(c.id, `structuredContent does not match the outputSchema: ${verdict.errorMessage}`);
  }
  const first = result.content?.[0];
  if (first?.type !== "text" || !isDeepStrictEqual(JSON.parse(first.text), result.structuredContent)) {
    return fail(c.id, "the text content is not the structured content as JSON");
  }
  counts.successes += 1;
}

function checkError(c, outcome) {
  if (outcome.thrown) {
    return fail(c.id, `the client turned the error result into an exception: ${outcome.thrown.message}`);
  }
  const result = outcome.result;
  const text = textOf(result);
  if (result.isError !== true) {
    return fail(c.id, `expected an error result, got success: ${text.slice(0, 200)}`);
  }
  if ("structuredContent" in result) {
    return fail(c.id, "an error result carries structuredContent");
  }
  if (text.startsWith("MCP error")) {
    return fail(c.id, `the error text is the client's, not the server's: ${text}`);
  }
  if (c.text !== undefined && text !== c.text) {
    return fail(c.id, `error text ${JSON.stringify(text)} is not the server's ${JSON.stringify(c.text)}`);
  }
  if (c.starts_with !== undefined && !text.startsWith(c.starts_with)) {
    return fail(c.id, `error text does not start with ${JSON.stringify(c.starts_with)}: ${text}`);
  }
  for (const fragment of c.includes ?? []) {
    if (!text.includes(fragment)) {
      return fail(c.id, `error text does not mention ${JSON.stringify(fragment)}: ${text}`);
    }
  }
  const kind = result._meta?.[ERROR_META]?.kind;
  if (kind !== c.kind) {
    return fail(c.id, `_meta["${ERROR_META}"].kind is ${JSON.stringify(kind)}, expected ${c.kind}`);
  }
  counts.errors += 1;
}

function checkRefusal(c, outcome) {
  if (!outcome.thrown) {
    return fail(c.id, `expected a JSON-RPC error, got a result: ${textOf(outcome.result)}`);
  }
  const error = outcome.thrown;
  if (error.code !== c.code) {
    return fail(c.id, `error code ${error.code}, expected ${c.code} (${error.message})`);
  }
  for (const fragment of c.includes ?? []) {
    if (!error.message.includes(fragment)) {
      return fail(c.id, `error message does not mention ${JSON.stringify(fragment)}: ${error.message}`);
    }
  }
  counts.refusals += 1;
}

async function main() {
  const client = new Client({ name: "persona-mcp-typescript-tests", version: "1.0.0" });
  await client.connect(transportFor(plan.transport));
  try {
    const tools = await listAllTools(client);
    const listed = tools.map((tool) => tool.name).sort();
    const expected = [...plan.tools].sort();
    if (!isDeepStrictEqual(listed, expected)) {
      fail("tools/list", `listed ${JSON.stringify(listed)}, expected ${JSON.stringify(expected)}`);
    }
    // The same validator the client uses on every structured result, applied explicitly.
    const ajv = new AjvJsonSchemaValidator();
    const validators = new Map(
      tools.filter((tool) => tool.outputSchema).map((tool) => [tool.name, ajv.getValidator(tool.outputSchema)]),
    );

    for (const c of plan.calls) {
      await sandbox("reset", "POST");
      if (c.faults !== undefined) {
        await sandbox("faults", "PUT", c.faults);
      }
      let prepared = true;
      let madeId;
      for (const step of c.prepare ?? []) {
        const outcome = await call(client, c.id, step.tool, step.arguments);
        counts.prepared += 1;
        if (outcome.thrown || outcome.result.isError) {
          fail(c.id, `preparing with ${step.tool} failed: ${outcome.thrown?.message ?? textOf(outcome.result)}`);
          prepared = false;
        } else {
          madeId = outcome.result.structuredContent?.id ?? madeId;
        }
      }
      if (!prepared) {
        continue;
      }
      // An argument equal to the placeholder stands for the id of the object the prepare step made.
      const args = Object.fromEntries(
        Object.entries(c.arguments ?? {}).map(([key, value]) =>
          [key, madeId !== undefined && value === c.prepared_id_placeholder ? madeId : value]),
      );
      const outcome = await call(client, c.id, c.tool, args);
      if (c.expect === "success") {
        checkSuccess(c, outcome, validators);
        if (!outcome.thrown) {
          await checkResources(client, c, outcome.result);
        }
      } else if (c.expect === "error") {
        checkError(c, outcome);
      } else {
        checkRefusal(c, outcome);
      }
    }
  } finally {
    await client.close();
  }
  console.log(JSON.stringify({ transport: plan.transport.kind, tools: plan.tools.length, ...counts, failures }));
  process.exitCode = failures.length === 0 ? 0 : 1;
}

main().catch((error) => {
  console.error(error?.stack ?? String(error));
  console.log(JSON.stringify({ transport: plan.transport.kind, ...counts, failures, crashed: String(error) }));
  process.exitCode = 2;
});
