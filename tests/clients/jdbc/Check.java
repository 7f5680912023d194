// pgJDBC through wirecache: unnamed statements first, then server-prepared ones once
// prepareThreshold is reached, batches, transactions and a read after a write.
// Usage: java -cp postgresql.jar:. Check JDBC_URL USER. Exits non-zero on any mismatch.
import java.sql.*;

public class Check {
    static void check(boolean ok, String what) {
        if (!ok) throw new AssertionError(what);
    }

    static String read(Connection c, int id) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT v FROM jd WHERE id = ?")) {
            ps.setInt(1, id);
            try (ResultSet rs = ps.executeQuery()) {
                check(rs.next(), "row " + id);
                return rs.getString(1);
            }
        }
    }

    public static void main(String[] args) throws Exception {
        try (Connection c = DriverManager.getConnection(args[0], args[1], "")) {
            try (Statement s = c.createStatement()) {
                s.execute("CREATE TABLE jd (id int PRIMARY KEY, v text)");
            }
            try (PreparedStatement ins = c.prepareStatement("INSERT INTO jd VALUES (?, ?)")) {
                for (int i = 1; i <= 30; i++) {
                    ins.setInt(1, i);
                    ins.setString(2, "v" + i);
                    ins.addBatch();
                }
                ins.executeBatch();
            }
            try (PreparedStatement ps = c.prepareStatement("SELECT v FROM jd WHERE id = ?")) {
                for (int k = 0; k < 10; k++) {
                    ps.setInt(1, 3);
                    try (ResultSet rs = ps.executeQuery()) {
                        check(rs.next() && rs.getString(1).equals("v3"), "read " + k);
                    }
                }
            }
            try (Statement s = c.createStatement()) {
                s.executeUpdate("UPDATE jd SET v = 'three' WHERE id = 3");
            }
            check(read(c, 3).equals("three"), "read after write");
            c.setAutoCommit(false);
            try (Statement s = c.createStatement()) {
                s.executeUpdate("UPDATE jd SET v = 'tx' WHERE id = 4");
            }
            check(read(c, 4).equals("tx"), "own write in transaction");
            c.rollback();
            c.setAutoCommit(true);
            check(read(c, 4).equals("v4"), "after rollback");
        }
        System.out.println("jdbc ok");
    }
}
