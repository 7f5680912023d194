// pgJDBC through wirecache over TLS (tests/it/pg_tls.rs): connects with the URL given
// (ssl=true&sslmode=verify-full&sslrootcert=...), reports the TLS session of its own
// socket (protocol, cipher suite, the certificate the server presented), then reads
// one row three times with a prepared statement (a miss, then cache hits).
// Usage: java -cp postgresql.jar:. TlsCheck JDBC_URL USER KEY. Exits non-zero when the
// connection fails (e.g. the host name does not match the certificate).
import java.net.Socket;
import java.security.cert.X509Certificate;
import java.sql.*;
import java.util.Properties;
import javax.net.ssl.SSLSession;
import javax.net.ssl.SSLSocket;

public class TlsCheck {
    /** pgJDBC's own factory (sslmode, sslrootcert), remembering the socket it made. */
    public static class Recording extends org.postgresql.ssl.LibPQFactory {
        static volatile SSLSocket last;

        public Recording(Properties info) throws org.postgresql.util.PSQLException {
            super(info);
        }

        @Override
        public Socket createSocket(Socket s, String host, int port, boolean autoClose)
                throws java.io.IOException {
            Socket made = super.createSocket(s, host, port, autoClose);
            last = (SSLSocket) made;
            return made;
        }
    }

    public static void main(String[] args) throws Exception {
        Properties props = new Properties();
        props.setProperty("user", args[1]);
        props.setProperty("password", "");
        props.setProperty("sslfactory", Recording.class.getName());
        int key = Integer.parseInt(args[2]);
        try (Connection c = DriverManager.getConnection(args[0], props)) {
            SSLSocket socket = Recording.last;
            if (socket == null || socket.isClosed()) throw new AssertionError("no TLS socket");
            SSLSession session = socket.getSession();
            X509Certificate peer = (X509Certificate) session.getPeerCertificates()[0];
            System.out.println("tls " + session.getProtocol() + " " + session.getCipherSuite());
            System.out.println("peer " + peer.getSubjectX500Principal().getName()
                    + "; issuer " + peer.getIssuerX500Principal().getName());
            try (PreparedStatement ps = c.prepareStatement("SELECT v FROM kv WHERE id = ?")) {
                for (int k = 0; k < 3; k++) {
                    ps.setInt(1, key);
                    try (ResultSet rs = ps.executeQuery()) {
                        if (!rs.next() || !rs.getString(1).equals("v" + key)) {
                            throw new AssertionError("read " + k);
                        }
                    }
                }
            }
        }
        System.out.println("jdbc tls ok");
    }
}
