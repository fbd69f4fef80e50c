"""A failed restore names the object, the statement, and whether the backup or the target is the cause."""
import pytest

from plugins.module_utils import api
from plugins.module_utils.common import errors
from plugins.module_utils.postgres.logical.schema import extract
from tests.support.params import engine_params


def test_missing_role_on_the_target_is_the_targets_fault(pg_server, tmp_path, db_exists):
    pg_server.psql('postgres', 'CREATE ROLE msg_gone')
    pg_server.create_database('msg_roles')
    pg_server.psql('msg_roles', 'CREATE TABLE t (a int); GRANT SELECT ON t TO msg_gone; '
                                "COMMENT ON TABLE t IS 'commented'")
    api.run_backup(engine_params(pg_server, 'msg_roles', str(tmp_path)))
    pg_server.psql('msg_roles', 'REVOKE SELECT ON t FROM msg_gone')
    pg_server.psql('postgres', 'DROP ROLE msg_gone')
    with pytest.raises(errors.RestoreFailed) as e:
        api.run_restore(engine_params(pg_server, 'msg_roles', str(tmp_path), target_database='msg_roles_copy'))
    msg = str(e.value)
    assert msg.startswith('Restoring ACL public.t failed: role "msg_gone" does not exist. '
                          'Statement: GRANT SELECT ON TABLE public.t TO msg_gone. Cause: the target server'), msg
    assert 'The target was left unchanged' in msg and not db_exists('msg_roles_copy')


def test_sql_that_does_not_fit_is_the_backups_fault(pg_server, tmp_path, monkeypatch, db_exists):
    """Without the postponing of objects that need a primary key, the restore fails as it once did."""
    pg_server.create_database('msg_order')
    pg_server.psql('msg_order', 'CREATE TABLE kv (id int PRIMARY KEY, data text); '
                                'CREATE VIEW kvv AS SELECT id, data FROM kv GROUP BY id')
    monkeypatch.setattr(extract, 'postpone', lambda pre, post: (pre, post))
    api.run_backup(engine_params(pg_server, 'msg_order', str(tmp_path)))
    with pytest.raises(errors.RestoreFailed) as e:
        api.run_restore(engine_params(pg_server, 'msg_order', str(tmp_path), target_database='msg_order_copy'))
    msg = str(e.value)
    assert msg.startswith('Restoring VIEW public.kvv failed: column "kv.data" must appear in the GROUP BY clause'), msg
    assert 'Statement: CREATE VIEW public.kvv AS SELECT kv.id, kv.data' in msg and 'Cause: the backup' in msg, msg
    assert not db_exists('msg_order_copy')
