# peer_aiohttp.py: what a Python user writes with asyncio + aiohttp (Debian's
# python3-aiohttp): N queries, C in flight. python3 peer_aiohttp.py URL KEY N C
import asyncio, sys
import aiohttp

async def main(url, key, n, c):
    state = {"next": 0, "ok": 0}
    conn = aiohttp.TCPConnector(limit=c)
    async with aiohttp.ClientSession(connector=conn) as session:
        async def worker():
            while state["next"] < n:
                state["next"] += 1
                data = {"apikey": key, "mobile": "139%08d" % state["next"], "name": "张三"}
                try:
                    async with session.post(url, data=data) as r:
                        j = await r.json(content_type=None)
                        if "code" in j:
                            state["ok"] += 1
                except Exception:
                    pass
        await asyncio.gather(*(worker() for _ in range(c)))
    print(state["ok"])

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
