// node-postgres through wirecache: parameterized queries (extended protocol, unnamed
// statements), named prepared statements, transactions, and a read after a write.
// Usage: node check.js CONNECTION_STRING. Exits non-zero on any mismatch.
const { Client } = require("pg");
const assert = require("assert");

async function main() {
  const c = new Client({ connectionString: process.argv[2] });
  await c.connect();
  await c.query("CREATE TABLE nd (id int PRIMARY KEY, v text)");
  for (let i = 1; i <= 20; i++) await c.query("INSERT INTO nd VALUES ($1, $2)", [i, `v${i}`]);
  for (let k = 0; k < 3; k++) {
    const r = await c.query("SELECT v FROM nd WHERE id = $1", [5]);
    assert.strictEqual(r.rows[0].v, "v5");
    const p = await c.query({ name: "by-id", text: "SELECT v FROM nd WHERE id = $1", values: [6] });
    assert.strictEqual(p.rows[0].v, "v6");
  }
  await c.query("UPDATE nd SET v = $1 WHERE id = $2", ["five", 5]);
  assert.strictEqual((await c.query("SELECT v FROM nd WHERE id = $1", [5])).rows[0].v, "five");
  await c.query("BEGIN");
  await c.query("UPDATE nd SET v = 'tx' WHERE id = 6");
  const inTx = await c.query({ name: "by-id", text: "SELECT v FROM nd WHERE id = $1", values: [6] });
  assert.strictEqual(inTx.rows[0].v, "tx");
  await c.query("ROLLBACK");
  const after = await c.query({ name: "by-id", text: "SELECT v FROM nd WHERE id = $1", values: [6] });
  assert.strictEqual(after.rows[0].v, "v6");
  const count = await c.query("SELECT count(*)::int AS n FROM nd");
  assert.strictEqual(count.rows[0].n, 20);
  await c.end();
  console.log("node-postgres ok");
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
