"""Compare two MySQL/MariaDB databases the way a DBA would check a restore.

"Equal" means: the same tables, views, sequences, routines, triggers and
events, each with identical SHOW CREATE output (after removing the database's
own name, which MariaDB prints inside view definitions and sequence defaults), identical metadata
that SHOW CREATE leaves out (trigger order, routine security and comments,
event status), the same database character set and collation, and for every
table the same row count and CHECKSUM TABLE ... EXTENDED value. Each helper
returns plain data so a failing assert shows the difference.
"""


def _t(v):
    return v.decode('utf-8') if isinstance(v, bytes) else v


def _rows(server, sql, args=None):
    return [tuple(_t(x) for x in row) for row in server.execute(sql, args)]


def _q(name):
    return '`%s`' % name.replace('`', '``')


def _strip_db(text, db, names=None):
    """The text without the database's own qualifier (views and sequence defaults carry it)."""
    from plugins.module_utils.mysql.logical.qualifiers import strip_qualifier
    return strip_qualifier(text, db, names) if isinstance(text, str) else text


def schema_snapshot(server, db):
    """Every object's definition, as a dict keyed by (kind, name)."""
    out = {}
    out[('DATABASE', '')] = _rows(server, 'SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME, SCHEMA_COMMENT '
                                          'FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s', (db,))
    objects = _rows(server, 'SELECT TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES '
                            'WHERE TABLE_SCHEMA = %s ORDER BY TABLE_NAME', (db,))
    names = set(name for name, _kind in objects)
    for name, kind in objects:
        if kind == 'VIEW':
            row = _rows(server, 'SHOW CREATE VIEW %s.%s' % (_q(db), _q(name)))[0]
            out[('VIEW', name)] = (_strip_db(row[1], db, names), row[2], row[3])
        elif kind == 'SEQUENCE':
            out[('SEQUENCE', name)] = (_rows(server, 'SHOW CREATE SEQUENCE %s.%s' % (_q(db), _q(name)))[0][1],
                                       _rows(server, 'SELECT * FROM %s.%s' % (_q(db), _q(name))))
        else:
            out[('TABLE', name)] = _strip_db(_rows(server, 'SHOW CREATE TABLE %s.%s' % (_q(db), _q(name)))[0][1],
                                             db, names)
    for name, kind, security, comment, definer in _rows(
            server, 'SELECT ROUTINE_NAME, ROUTINE_TYPE, SECURITY_TYPE, ROUTINE_COMMENT, DEFINER '
                    'FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = %s', (db,)):
        row = _rows(server, 'SHOW CREATE %s %s.%s' % (kind, _q(db), _q(name)))[0]
        out[(kind, name)] = (row[1], row[2], row[3], row[4], security, comment, definer)
    for name, table, order in _rows(server, 'SELECT TRIGGER_NAME, EVENT_OBJECT_TABLE, ACTION_ORDER '
                                            'FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = %s', (db,)):
        row = _rows(server, 'SHOW CREATE TRIGGER %s.%s' % (_q(db), _q(name)))[0]
        out[('TRIGGER', name)] = (table, order, row[1], row[2], row[3], row[4])
    for name, status, comment in _rows(server, 'SELECT EVENT_NAME, STATUS, EVENT_COMMENT FROM information_schema.EVENTS '
                                               'WHERE EVENT_SCHEMA = %s', (db,)):
        row = _rows(server, 'SHOW CREATE EVENT %s.%s' % (_q(db), _q(name)))[0]
        out[('EVENT', name)] = (row[1], row[2], row[3], row[4], row[5], status, comment)
    return out


def table_checksums(server, db):
    """{table: (rows, CHECKSUM TABLE EXTENDED)} for every base table."""
    out = {}
    names = [r[0] for r in _rows(server, "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s "
                                         "AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME", (db,))]
    for name in names:
        qualified = '%s.%s' % (_q(db), _q(name))
        count = server.execute('SELECT COUNT(*) FROM %s' % qualified)[0][0]
        checksum = server.execute('CHECKSUM TABLE %s EXTENDED' % qualified)[0][1]
        out[name] = (count, checksum)
    return out


def assert_same_database(server, source, copy):
    a, b = schema_snapshot(server, source), schema_snapshot(server, copy)
    assert sorted(a) == sorted(b), 'objects differ: only in source %r, only in copy %r' % (
        sorted(set(a) - set(b)), sorted(set(b) - set(a)))
    for key in sorted(a):
        assert a[key] == b[key], '%s %s differs:\nsource: %r\ncopy:   %r' % (key[0], key[1], a[key], b[key])
    ca, cb = table_checksums(server, source), table_checksums(server, copy)
    assert ca == cb, 'table data differ:\nsource: %r\ncopy:   %r' % (ca, cb)
    return a, ca


def leftover_databases(server):
    """Temporary databases of the restore engine that are still there."""
    return [r[0] for r in _rows(server, "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA "
                                        "WHERE SCHEMA_NAME LIKE '\\_dbbackup\\_%'")]
