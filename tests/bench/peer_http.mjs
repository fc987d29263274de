// peer_http.mjs: node:http with a keep-alive Agent, C sockets, N queries.
// node peer_http.mjs URL KEY N C
import http from 'node:http';
const [url, key, n, c] = [new URL(process.argv[2]), process.argv[3], +process.argv[4], +process.argv[5]];
const agent = new http.Agent({ keepAlive: true, maxSockets: c });
let next = 0, ok = 0;
function post(body) {
  return new Promise((resolve) => {
    const req = http.request({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST', agent,
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) } },
      (res) => { const parts = []; res.on('data', (d) => parts.push(d));
                 res.on('end', () => { try { resolve(JSON.parse(Buffer.concat(parts))); } catch { resolve(null); } }); });
    req.on('error', () => resolve(null));
    req.end(body);
  });
}
async function worker() {
  while (next < n) {
    const i = ++next;
    const body = new URLSearchParams({ apikey: key, mobile: '139' + String(i).padStart(8, '0'), name: '张三' }).toString();
    const j = await post(body);
    if (j && j.code !== undefined) ok++;
  }
}
await Promise.all(Array.from({ length: c }, worker));
console.log(ok);
agent.destroy();
