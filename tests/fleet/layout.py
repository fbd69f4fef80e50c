"""What the fleet test's hosts hold (tests/fleet/conftest.py makes it; the tests check it)."""

# Databases per PostgreSQL server (named after its host) and the rows of their one table.
PG_DATABASES = {
    'db-bookworm': {'app': 150, 'billing': 80},
    'db-trixie': {'inventory': 120},
    'db-bullseye': {'legacy': 90},
    'db-broken': {'app': 10},
}
# db-bullseye's second server, MariaDB 10.5, under its own server_name.
MARIADB_SERVER = 'db-bullseye-mariadb'
MARIADB_DATABASES = {'shop': 70, 'crm': 40}
PITR_HOST = 'db-trixie'          # archives WAL (group pitr_servers); its modules run as postgres
BROKEN_HOST = 'db-broken'        # its inventory holds a wrong password
METRICS_DIR = '/var/lib/prometheus/node-exporter'
PYTHON = {'db-bookworm': '3.11', 'db-trixie': '3.13', 'db-bullseye': '3.9', 'db-broken': '3.11'}
PG_MAJOR = {'db-bookworm': '15', 'db-trixie': '17', 'db-bullseye': '13', 'db-broken': '15'}
