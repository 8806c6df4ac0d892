/**
 * The CLI's JWT flags, from a real process: a secret from a file or the
 * environment, a public key file, bad combinations (exit 2) and bad keys
 * (exit 1), public topics and anonymous publishing.
 */

import { assertEquals, assertStringIncludes } from "@std/assert";
import { exportSPKI } from "jose";
import { parseCommand } from "../src/cli_command.ts";
import { runCli, startCli } from "./_cli.ts";
import { keyPair, SECRET, signToken } from "./_jwt.ts";
import { rawHttp, upgradeRequest } from "./_raw_client.ts";
import { TestClient } from "./_server.ts";

async function status(port: number, path: string): Promise<number> {
  const response = await rawHttp(port, upgradeRequest(`127.0.0.1:${port}`, { path }));
  return Number(response.split(" ")[1]);
}

async function opens(port: number, path: string): Promise<string> {
  const client = new TestClient(port, path);
  await client.waitFor(1);
  await client.close();
  return JSON.parse(client.messages[0] as string).type;
}

Deno.test("parseCommand() reads the JWT flags", () => {
  const command = parseCommand([
    "--jwks",
    "https://id.example/.well-known/jwks.json",
    "--jwt-issuer",
    "https://id.example/",
    "--jwt-audience",
    "pushwire",
    "--public-topic",
    "news",
    "--public-topic",
    "status:*",
    "--anonymous-publish",
    "none",
  ]);
  assertEquals(command.kind === "serve" && command.jwt, {
    jwks: "https://id.example/.well-known/jwks.json",
    issuer: "https://id.example/",
    audience: "pushwire",
  });
  assertEquals(command.kind === "serve" && command.publicTopics, ["news", "status:*"]);
  assertEquals(command.kind === "serve" && command.anonymousPublish, []);
});

Deno.test("pushwire refuses bad JWT flags: exit 2, or 1 for a key that does not load", async (t) => {
  const cases: [string[], number, string][] = [
    [["--jwt-secret", SECRET, "--jwks", "https://id.example/jwks"], 2, "Give one of --jwt-secret"],
    [["--jwks", "ftp://id.example/jwks"], 2, "Invalid --jwks"],
    [["--jwt-issuer", "x"], 2, "--jwt-issuer needs --jwt-secret"],
    [["--public-topic", "bad topic"], 2, "Invalid --public-topic"],
    [["--jwt-secret", "short"], 1, "A JWT secret has at least 32 bytes"],
    [["--public-topic", "news"], 1, "--public-topic needs --jwt-secret"],
    [["--jwt-key", "deno.json"], 1, "cannot read --jwt-key"],
    [["--jwt-key", "deno.json"], 1, "Invalid JWT key"],
  ];
  for (const [args, code, error] of cases) {
    await t.step(args.join(" "), async () => {
      const permissions = args.includes("--jwt-key") && error.startsWith("Invalid")
        ? ["-N", "-R=deno.json"]
        : undefined;
      const result = await runCli(args, permissions === undefined ? {} : { permissions });
      assertEquals(result.code, code, result.stderr);
      assertStringIncludes(result.stderr, error);
    });
  }
});

Deno.test("pushwire --jwt-secret-file: tokens required, public topics open", async () => {
  const file = await Deno.makeTempFile();
  await Deno.writeTextFile(file, `${SECRET}\n`);
  const cli = await startCli(["--jwt-secret-file", file, "--public-topic", "news"], {
    permissions: ["-N", `-R=${file}`],
  });
  try {
    assertEquals(await status(cli.port, "/?topic=room:1"), 401);
    assertEquals(await status(cli.port, "/"), 401);
    assertEquals(await opens(cli.port, "/?topic=news"), "subscribed");
    const token = await signToken({ topics: ["room:*"] });
    assertEquals(await opens(cli.port, `/?topic=room:1&token=${token}`), "subscribed");
    assertEquals(await status(cli.port, `/?topic=admin&token=${token}`), 403);
  } finally {
    await cli.stop();
    await Deno.remove(file);
  }
});

Deno.test("pushwire with $PUSHWIRE_JWT_SECRET (readable) or --jwt-key", async (t) => {
  await t.step("the environment", async () => {
    const cli = await startCli([], {
      permissions: ["-N", "--allow-env=PUSHWIRE_JWT_SECRET"],
      env: { PUSHWIRE_JWT_SECRET: SECRET },
    });
    try {
      assertEquals(await status(cli.port, "/?topic=room:1"), 401);
      const token = await signToken({ topics: ["room:1"] });
      assertEquals(await opens(cli.port, `/?topic=room:1&token=${token}`), "subscribed");
    } finally {
      await cli.stop();
    }
  });
  await t.step("an ES256 PEM key", async () => {
    const { publicKey, privateKey } = await keyPair("ES256");
    const file = await Deno.makeTempFile({ suffix: ".pem" });
    await Deno.writeTextFile(file, await exportSPKI(publicKey));
    const cli = await startCli(["--jwt-key", file], { permissions: ["-N", `-R=${file}`] });
    try {
      const token = await signToken({ alg: "ES256", signWith: privateKey, topics: ["room:1"] });
      assertEquals(await opens(cli.port, `/?topic=room:1&token=${token}`), "subscribed");
      assertEquals(await status(cli.port, `/?topic=room:1&token=${await signToken()}`), 401);
    } finally {
      await cli.stop();
      await Deno.remove(file);
    }
  });
});

Deno.test("pushwire --api-key-file and --presence: the API answers, presence follows the patterns", async () => {
  const file = await Deno.makeTempFile();
  await Deno.writeTextFile(file, "an-api-key\n");
  const cli = await startCli(["--api-key-file", file, "--presence", "team:*"], {
    permissions: ["-N", `-R=${file}`],
  });
  const get = (path: string, key = "an-api-key") =>
    fetch(`http://127.0.0.1:${cli.port}${path}`, { headers: { Authorization: `Bearer ${key}` } });
  try {
    const client = new TestClient(cli.port, "/?topic=team:a&topic=room:a&name=Ada");
    await client.waitFor(3);
    const types = client.messages.map((m) => JSON.parse(m as string).type);
    assertEquals(types.filter((type) => type === "presence").length, 1, types.join());
    const presence = await get("/api/presence?topic=team:a");
    assertEquals((await presence.json()).clients.length, 1);
    const none = await get("/api/presence?topic=room:a");
    assertEquals(none.status, 404);
    await none.body?.cancel();
    const wrong = await get("/api/topics", "guess");
    assertEquals(wrong.status, 403);
    await wrong.body?.cancel();
    await client.close();
  } finally {
    await cli.stop();
    await Deno.remove(file);
  }
  const off = await startCli([]);
  try {
    const response = await fetch(`http://127.0.0.1:${off.port}/api/topics`);
    assertEquals(response.status, 404, "no key: the API is off");
    await response.body?.cancel();
  } finally {
    await off.stop();
  }
});
