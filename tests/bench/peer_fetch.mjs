// peer_fetch.mjs: what a Node user writes with global fetch: N queries, C in flight.
// node peer_fetch.mjs URL KEY N C
const [url, key, n, c] = [process.argv[2], process.argv[3], +process.argv[4], +process.argv[5]];
let next = 0, ok = 0;
async function worker() {
  while (next < n) {
    const i = ++next;
    const body = new URLSearchParams({ apikey: key, mobile: '139' + String(i).padStart(8, '0'), name: '张三' });
    try {
      const r = await fetch(url, { method: 'POST', body });
      const j = await r.json();
      if (j.code !== undefined) ok++;
    } catch (e) { /* a transport failure */ }
  }
}
await Promise.all(Array.from({ length: c }, worker));
console.log(ok);
