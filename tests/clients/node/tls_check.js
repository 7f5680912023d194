// node-postgres through wirecache over TLS (tests/it/pg_tls.rs), with `ssl: { ca }`:
// Node verifies the chain and the host name. Reports its own socket's TLS state,
// then reads one row three times (a miss, then cache hits).
// Usage: node tls_check.js HOST PORT DATABASE USER CA_FILE KEY [SERVERNAME]. SERVERNAME
// (ssl.servername) is the name to verify instead of HOST. Prints one JSON line, with
// the name Node checked the certificate against; exits non-zero when the connection
// fails.
const { Client } = require("pg");
const assert = require("assert");
const fs = require("fs");
const tls = require("tls");

async function main() {
  const [host, port, database, user, caFile, key, servername] = process.argv.slice(2);
  let checked = null;
  const ssl = {
    ca: fs.readFileSync(caFile, "utf8"),
    checkServerIdentity: (name, cert) => {
      checked = name;
      return tls.checkServerIdentity(name, cert);
    },
  };
  if (servername) ssl.servername = servername;
  const c = new Client({ host, port: Number(port), database, user, ssl });
  await c.connect();
  const s = c.connection.stream;
  const peer = s.getPeerCertificate();
  const report = {
    encrypted: s.encrypted === true,
    authorized: s.authorized,
    protocol: s.getProtocol(),
    cipher: s.getCipher().name,
    peer: peer.subject.CN,
    issuer: peer.issuer.CN,
    checked,
  };
  for (let k = 0; k < 3; k++) {
    const r = await c.query("SELECT v FROM kv WHERE id = $1", [Number(key)]);
    assert.strictEqual(r.rows[0].v, `v${key}`);
  }
  await c.end();
  console.log(JSON.stringify(report));
}

main().catch((e) => {
  console.error(e.message || e);
  process.exit(1);
});
