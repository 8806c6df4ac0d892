/**
 * Browser origins and allowed hosts (issue #15): with no `origins`, an
 * upgrade is accepted without an `Origin` (a program) or from the server's
 * own origin, and refused with 403 otherwise; `origins: ["*"]` accepts every
 * origin; `allowedHosts` refuses every request naming another host in `Host`
 * (the DNS-rebinding defence), upgrades and plain HTTP routes alike. The
 * pure checks first, then from the wire, then the CLI flags.
 */

import { assert, assertEquals, assertStringIncludes, assertThrows } from "@std/assert";
import { parseCommand } from "../src/cli_command.ts";
import { HttpError } from "../src/protocol/errors.ts";
import {
  checkHost,
  checkOrigin,
  normalizeAllowedHosts,
  originPolicy,
} from "../src/server/access.ts";
import { serve } from "../src/server/server.ts";
import { runCli } from "./_cli.ts";
import { denoRunArgs } from "./_deno_run.ts";
import { withPush } from "./_push.ts";
import { RawClient, rawHttp, upgradeRequest } from "./_raw_client.ts";
import { until, withServer } from "./_server.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The status of a raw response (`HTTP/1.1 403 …` → 403). */
function statusOf(response: string): number {
  return Number(response.slice(9, 12));
}

/**
 * Sends a request and returns the response head, closing the connection once
 * it is read (a 101 would otherwise keep it open).
 */
async function responseHead(port: number, request: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(encoder.encode(request));
    let head = "";
    const buffer = new Uint8Array(4096);
    while (!head.includes("\r\n\r\n")) {
      const n = await conn.read(buffer);
      if (n === null) break;
      head += decoder.decode(buffer.subarray(0, n));
    }
    return head;
  } finally {
    conn.close();
  }
}

/** The status an upgrade request with `Host: host` and these headers gets. */
async function upgradeStatus(
  port: number,
  host: string,
  headers: Record<string, string> = {},
): Promise<number> {
  return statusOf(await responseHead(port, upgradeRequest(host, { headers })));
}

/** A plain HTTP request with `Host: host` (none for `undefined`); its raw response. */
function plainRequest(
  port: number,
  method: string,
  path: string,
  host: string | undefined,
  body = "",
): Promise<string> {
  const hostLine = host === undefined ? "" : `Host: ${host}\r\n`;
  const bodyLines = method === "POST"
    ? `Content-Type: text/plain\r\nContent-Length: ${encoder.encode(body).length}\r\n`
    : "";
  return rawHttp(port, `${method} ${path} HTTP/1.1\r\n${hostLine}${bodyLines}\r\n${body}`);
}

Deno.test("checkOrigin() compares the origin's host and port with Host canonically", async (t) => {
  const none = new Set<string>();
  const cases: [string, string, string, boolean][] = [
    ["the same host and port", "http://127.0.0.1:8080", "127.0.0.1:8080", true],
    ["a name in another case", "http://localhost:8080", "LocalHost:8080", true],
    ["the default port written in Host", "http://push.example", "push.example:80", true],
    ["the default https port written in Host", "https://push.example", "push.example:443", true],
    ["the default port written in Origin", "https://push.example:443", "push.example", true],
    ["IPv6 in brackets", "http://[::1]:8080", "[::1]:8080", true],
    ["another port", "http://127.0.0.1:8081", "127.0.0.1:8080", false],
    ["no port against a port", "http://push.example", "push.example:8080", false],
    ["http's default port is not https's", "http://push.example", "push.example:443", false],
    ["another host", "http://evil.example:8080", "127.0.0.1:8080", false],
    ["a sandboxed page (null)", "null", "127.0.0.1:8080", false],
    ["a scheme that is not http(s)", "chrome-extension://abc", "abc", false],
    ["a Host that is not one", "http://a.example", "a.example/x", false],
  ];
  for (const [name, origin, host, ok] of cases) {
    await t.step(`${name}: ${origin} for Host ${host} → ${ok ? "allowed" : "403"}`, () => {
      const request = { origin, headers: new Map([["host", host]]) };
      if (ok) return checkOrigin(request, none);
      const error = assertThrows(() => checkOrigin(request, none), HttpError, "Origin not allowed");
      assertEquals(error.status, 403);
    });
  }
});

Deno.test('originPolicy() reads unset as the server\'s own, ["*"] as any, and refuses "*" among others', () => {
  assertEquals(originPolicy(undefined), { kind: "listed", origins: new Set<string>() });
  assertEquals(originPolicy([]), { kind: "listed", origins: new Set<string>() });
  assertEquals(originPolicy(["*"]), { kind: "any" });
  assertEquals(originPolicy(["HTTPS://App.example:443"]), {
    kind: "listed",
    origins: new Set(["https://app.example"]),
  });
  assertThrows(
    () => originPolicy(["*", "https://app.example"]),
    TypeError,
    'Cannot combine origin "*"',
  );
  assertThrows(() => originPolicy(["app.example"]), TypeError, "Invalid origin");
});

Deno.test("normalizeAllowedHosts() keeps host[:port] and refuses anything else", async (t) => {
  await t.step("canonical forms", () => {
    assertEquals(
      [...normalizeAllowedHosts(["LocalHost", "push.example.:8443", "[::1]", "127.0.0.1", "a_b"])],
      ["localhost", "push.example:8443", "[::1]", "127.0.0.1", "a_b"],
    );
  });
  const bad = [
    "http://localhost",
    "localhost/",
    "localhost/path",
    "user@localhost",
    "*",
    "*.example",
    ".example",
    "a..b",
    "::1",
    "",
    " ",
    "localhost:0",
    "localhost:65536",
    "localhost:x",
    "localhost?x",
  ];
  for (const host of bad) {
    await t.step(`"${host}" is refused`, () => {
      assertThrows(() => normalizeAllowedHosts([host]), TypeError, "Invalid allowed host");
    });
  }
  await t.step("an empty list is refused", () => {
    assertThrows(() => normalizeAllowedHosts([]), TypeError, "list at least one host");
  });
});

Deno.test("checkHost() allows listed names on any port, host:port entries on that port only", async (t) => {
  const allowed = normalizeAllowedHosts([
    "localhost",
    "push.example:8443",
    "[::1]",
    "plain.example:80",
  ]);
  const cases: [string, string | undefined, number][] = [
    ["a listed name", "localhost", 0],
    ["a listed name with a port", "localhost:8080", 0],
    ["a listed name in another case, a trailing dot", "LOCALHOST.:8080", 0],
    ["IPv6 in brackets", "[::1]:8080", 0],
    ["a host:port entry, its port", "push.example:8443", 0],
    ["a host:port entry, another port", "push.example:8080", 403],
    ["a host:port entry, no port (80)", "push.example", 403],
    ["an entry for port 80, no port", "plain.example", 0],
    ["another host", "evil.example", 403],
    ["another host, a listed name's port", "evil.example:8080", 403],
    ["a listed name inside another", "localhost.evil.example", 403],
    ["a Host that is not one", "localhost/x", 403],
    ["no Host", undefined, 400],
    ["an empty Host", "", 400],
  ];
  for (const [name, host, status] of cases) {
    await t.step(`${name}: ${host} → ${status || "allowed"}`, () => {
      const headers = new Map(host === undefined ? [] : [["host", host]]);
      if (status === 0) return checkHost(headers, allowed, 80);
      const error = assertThrows(() => checkHost(headers, allowed, 80), HttpError);
      assertEquals(error.status, status);
    });
  }
  await t.step("under TLS a Host without a port means 443", () => {
    const tls = normalizeAllowedHosts(["push.example:443"]);
    checkHost(new Map([["host", "push.example"]]), tls, 443);
    assertThrows(() => checkHost(new Map([["host", "push.example"]]), tls, 80), HttpError);
  });
});

Deno.test("serve() without origins: no Origin or the server's own pass, any other gets 403", async (t) => {
  await withServer({}, undefined, async (server, port) => {
    const host = `127.0.0.1:${port}`;
    await t.step("no Origin (a program) → 101", async () => {
      const client = await RawClient.connect(port);
      client.close();
    });
    await t.step("the server's own origin → 101", async () => {
      const client = await RawClient.connect(port, { headers: { Origin: `http://${host}` } });
      client.close();
      assertEquals(
        await upgradeStatus(port, `localhost:${port}`, {
          Origin: `http://LOCALHOST:${port}`,
        }),
        101,
      );
    });
    const refused: [string, string][] = [
      ["another port", `http://127.0.0.1:${port + 1}`],
      ["another host", `http://localhost:${port}`],
      ["another site", "https://evil.example"],
      ["no port (80)", "http://127.0.0.1"],
      ["a sandboxed page", "null"],
      ["not an origin", "garbage"],
    ];
    for (const [name, origin] of refused) {
      await t.step(`${name} (${origin}) → 403 Origin not allowed`, async () => {
        const response = await rawHttp(port, upgradeRequest(host, { headers: { Origin: origin } }));
        assertEquals(statusOf(response), 403, response);
        assertStringIncludes(response, "Origin not allowed");
      });
    }
    await t.step("the refusals are counted as handshake failures", async () => {
      await until(() => server.sockets.size === 0);
      const metrics = await (await fetch(`http://${host}/metrics`)).text();
      assertStringIncludes(
        metrics,
        `pushwire_handshake_failures_total{status="403"} ${refused.length}\n`,
      );
    });
  });
});

Deno.test('serve({ origins: ["*"] }) accepts every origin; "*" among others is refused', async () => {
  await withServer({ origins: ["*"] }, undefined, async (server, port) => {
    const foreign = await RawClient.connect(port, { headers: { Origin: "https://evil.example" } });
    const sandboxed = await RawClient.connect(port, { headers: { Origin: "null" } });
    await until(() => server.sockets.size === 2);
    foreign.close();
    sandboxed.close();
  });
  assertThrows(
    () => serve({ port: 0, origins: ["*", "https://app.example"] }),
    TypeError,
    'Cannot combine origin "*"',
  );
});

Deno.test('servePush({ origins: ["*"] }) opens sockets to every page, not tokenless publishing', async () => {
  await withPush({ origins: ["*"] }, async (_push, port) => {
    assertEquals(
      await upgradeStatus(port, `127.0.0.1:${port}`, { Origin: "https://evil.example" }),
      101,
    );
    const request = `POST /publish?topic=news HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n` +
      "Origin: https://evil.example\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi";
    const response = await rawHttp(port, request);
    assertEquals(statusOf(response), 403, response);
    assertStringIncludes(response, "another site");
  });
});

Deno.test("allowedHosts refuses upgrades and every route naming another host with 403", async (t) => {
  await withPush({ allowedHosts: ["localhost"] }, async (push, port) => {
    const evil = `evil.example:${port}`;
    const good = `localhost:${port}`;
    await t.step("an upgrade with Host: evil.example → 403 Host not allowed", async () => {
      const response = await rawHttp(port, upgradeRequest(evil));
      assertEquals(statusOf(response), 403, response);
      assertStringIncludes(response, "Host not allowed");
    });
    await t.step("DNS rebinding: the page's own origin, its own Host → 403", async () => {
      assertEquals(await upgradeStatus(port, evil, { Origin: `http://${evil}` }), 403);
    });
    await t.step("POST /publish with Host: evil.example → 403, nothing published", async () => {
      const response = await plainRequest(port, "POST", "/publish?topic=news", evil, "hi");
      assertEquals(statusOf(response), 403, response);
      assertStringIncludes(response, "Host not allowed");
    });
    for (const path of ["/metrics", "/healthz", "/", "/nowhere"]) {
      await t.step(`GET ${path} with Host: evil.example → 403`, async () => {
        const response = await plainRequest(port, "GET", path, evil);
        assertEquals(statusOf(response), 403, response);
      });
    }
    await t.step("no Host header → 400", async () => {
      const response = await rawHttp(port, "GET /healthz HTTP/1.0\r\n\r\n");
      assertEquals(statusOf(response), 400, response);
    });
    await t.step(
      "Host: localhost:<port>: the upgrade, /publish and /metrics are served",
      async () => {
        assertEquals(await upgradeStatus(port, good), 101);
        assertEquals(await upgradeStatus(port, good, { Origin: `http://${good}` }), 101);
        const published = await plainRequest(port, "POST", "/publish?topic=news", good, "hi");
        assertEquals(statusOf(published), 200, published);
        assertStringIncludes(published, '"id":"');
        const metrics = await plainRequest(port, "GET", "/metrics", good);
        assertEquals(statusOf(metrics), 200, metrics);
        // The one publication is the one sent with an allowed Host.
        assertStringIncludes(metrics, 'pushwire_handshake_failures_total{status="403"} 2\n');
      },
    );
    await t.step("Host: 127.0.0.1 is not listed → 403", async () => {
      assertEquals(await upgradeStatus(port, `127.0.0.1:${port}`), 403);
    });
    await until(() => push.server.sockets.size === 0);
  });
});

Deno.test("allowedHosts: an entry with a port allows that port only", async () => {
  await withServer({}, undefined, async (_first, port) => {
    await withServer({ allowedHosts: [`localhost:${port}`] }, undefined, async (_server, own) => {
      // The entry names the first server's port: the second one's is refused.
      assertEquals(statusOf(await plainRequest(own, "GET", "/healthz", `localhost:${port}`)), 200);
      assertEquals(statusOf(await plainRequest(own, "GET", "/healthz", `localhost:${own}`)), 403);
      assertEquals(statusOf(await plainRequest(own, "GET", "/healthz", "localhost")), 403);
    });
  });
});

Deno.test("serve({ allowedHosts }) refuses an invalid entry before listening", () => {
  for (const host of ["http://localhost", "localhost/x", "*"]) {
    assertThrows(
      () => serve({ port: 0, allowedHosts: [host] }),
      TypeError,
      `Invalid allowed host "${host}"`,
    );
  }
  assertThrows(() => serve({ port: 0, allowedHosts: [] }), TypeError, "list at least one host");
});

Deno.test("parseCommand() reads --allowed-host (repeatable) and --origin '*'", () => {
  const command = parseCommand([
    "--allowed-host",
    "localhost",
    "--allowed-host=push.example:8443",
    "--origin",
    "*",
  ]);
  assert(command.kind === "serve");
  assertEquals(command.allowedHosts, ["localhost", "push.example:8443"]);
  assertEquals(command.origins, ["*"]);
  const none = parseCommand([]);
  assert(none.kind === "serve");
  assertEquals([none.allowedHosts, none.origins], [undefined, undefined]);
});

Deno.test("pushwire exits 2 for a bad --allowed-host or '*' among other --origin values", async (t) => {
  const cases: { args: string[]; error: string }[] = [
    {
      args: ["--allowed-host", "http://localhost"],
      error: 'Invalid allowed host "http://localhost"',
    },
    { args: ["--allowed-host", "localhost/x"], error: 'Invalid allowed host "localhost/x"' },
    {
      args: ["--origin", "*", "--origin", "https://a.example"],
      error: 'Cannot combine origin "*"',
    },
  ];
  for (const { args, error } of cases) {
    await t.step(args.join(" "), async () => {
      const { code, stdout, stderr } = await runCli(args);
      assertEquals(code, 2, stderr);
      assertEquals(stdout, "");
      assertStringIncludes(stderr, `error: ${error}`);
    });
  }
  await t.step("--help lists --allowed-host and '*'", async () => {
    const { code, stdout } = await runCli(["--help"]);
    assertEquals(code, 0);
    assertStringIncludes(stdout, "--allowed-host <host>");
    assertStringIncludes(stdout, "'*'");
  });
});

Deno.test("pushwire --allowed-host localhost --origin '*': any page, named localhost only", async () => {
  const args = ["--port", "0", "--hostname", "127.0.0.1", "--stdin", "off"];
  const child = new Deno.Command(Deno.execPath(), {
    args: denoRunArgs(new URL("../src/cli.ts", import.meta.url), [
      ...args,
      "--allowed-host",
      "localhost",
      "--origin",
      "*",
    ]),
    env: {},
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const killer = setTimeout(() => child.kill("SIGKILL"), 30_000);
  const stderr = new Response(child.stderr).text();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  try {
    let stdout = "";
    while (!stdout.includes("\n")) {
      const { value, done } = await lines.read();
      if (done) break;
      stdout += value;
    }
    const port = Number(stdout.match(/^pushwire listening on http:\/\/[^:]+:(\d+)\//)?.[1]);
    assert(port > 0, `unexpected output: ${stdout}`);
    const foreign = { Origin: "https://evil.example" };
    assertEquals(await upgradeStatus(port, `localhost:${port}`, foreign), 101);
    assertEquals(await upgradeStatus(port, `evil.example:${port}`, foreign), 403);
    assertEquals(
      statusOf(await plainRequest(port, "GET", "/metrics", `evil.example:${port}`)),
      403,
    );
  } finally {
    clearTimeout(killer);
    child.kill("SIGKILL");
    await lines.cancel();
    await child.status;
    await stderr;
  }
});
