"""One SQL statement in its own session of a throwaway server, as any role (tests only)."""
import psycopg2


def query(server, db, sql, user=None, password=None):
    """Rows of sql run in db (None for a statement without rows), autocommit, as user (default superuser)."""
    conn = psycopg2.connect(host=server.host, port=server.port, dbname=db,
                            user=user or server.user, password=password or server.password)
    conn.autocommit = True
    try:
        cur = conn.cursor()
        cur.execute(sql)
        return cur.fetchall() if cur.description else None
    finally:
        conn.close()
