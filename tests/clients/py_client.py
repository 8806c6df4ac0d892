"""A Python `websockets` client that tests/clients_test.ts runs against pushwire.

    /usr/bin/python3 py_client.py ws://127.0.0.1:PORT/   (against an echo server)

Uses the asyncio client of websockets 10.x (Debian bookworm's python3-websockets)
with its defaults, so it offers permessage-deflate, which the server accepts.
Prints one JSON line on stdout with what it saw; the Deno test compares it with
what it expects. Exits 1 (after printing {"error": ...}) on any other failure,
and gives up after 20 seconds.
"""

import asyncio
import json
import sys
import traceback

import websockets

TIMEOUT_S = 20


def pattern(length):
    return bytes((i * 31 + 7) & 0xFF for i in range(length))


def same(received, expected):
    """True when `received` equals `expected`, else a short description of it."""
    if received == expected:
        return True
    kind = "text" if isinstance(received, str) else "binary"
    return f"{kind} of {len(received)}, expected {len(expected)}"


async def echo(url):
    result = {"client": f"websockets {websockets.__version__}"}
    async with websockets.connect(url, open_timeout=5, close_timeout=5) as ws:
        result["offeredExtensions"] = ws.request_headers.get("Sec-WebSocket-Extensions", "")
        result["extensions"] = [type(extension).__name__ for extension in ws.extensions]
        result["responseExtensions"] = ws.response_headers.get("Sec-WebSocket-Extensions")

        text = "héllo wörld ✓ 🚀"
        await ws.send(text)
        result["text"] = same(await ws.recv(), text)

        data = bytes(range(256))
        await ws.send(data)
        result["binary"] = same(await ws.recv(), data)

        large = pattern(1024 * 1024)
        await ws.send(large)
        result["oneMiB"] = same(await ws.recv(), large)

        # An iterable is sent as one fragmented message, a frame per item.
        await ws.send(["frag", "men", "ted ✓"])
        result["fragmentedText"] = same(await ws.recv(), "fragmented ✓")

        pong_waiter = await ws.ping(b"are you there?")
        await asyncio.wait_for(pong_waiter, 5)
        result["pong"] = True

        await ws.close(code=4001, reason="bye from python")
        result["close"] = {"code": ws.close_code, "reason": ws.close_reason}
    return result


async def main():
    if len(sys.argv) != 2:
        print("usage: python3 py_client.py ws://host:port/", file=sys.stderr)
        return 2
    try:
        result = await asyncio.wait_for(echo(sys.argv[1]), TIMEOUT_S)
    except Exception:
        print(json.dumps({"error": traceback.format_exc()}))
        return 1
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
