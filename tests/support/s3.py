"""A real S3-compatible endpoint for the tests: moto's server mode on loopback.

MotoS3 starts `python -m moto.server` as a subprocess on a free 127.0.0.1 port
(never in-process mocking of boto3), creates IAM users through the server's
IAM API and then switches authentication on, so every later request is
checked by SigV4 signature and IAM policy like on AWS:

    writer      may do everything on S3 (the credentials tests use)
    lister      may only list buckets (s3:ListBucket): for access-denied tests

MotoS3(logfile, threaded=False) serves one request at a time: moto checks
conditions (If-None-Match: *) and then writes without a lock, which real S3
does atomically; tests of concurrent conditional writes need that server.

moto[server] comes from requirements-test.txt (scripts/bootstrap.sh).
"""
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

REGION = 'us-east-1'

# moto.server's main() with threaded=False (its command line has no such option)
_SERIAL_SERVER = (
    'import sys\n'
    'from werkzeug.serving import run_simple\n'
    'from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app\n'
    'from moto.server import MotoRequestHandler\n'
    'run_simple(sys.argv[1], int(sys.argv[2]), DomainDispatcherApplication(create_backend_app),\n'
    '           threaded=False, request_handler=MotoRequestHandler)\n')


def free_port():
    s = socket.socket()
    try:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]
    finally:
        s.close()


class S3Location(object):
    """One bucket (and prefix) of the test server, with the engine options to reach it."""

    def __init__(self, server, bucket, prefix='backups'):
        self.server, self.bucket, self.prefix = server, bucket, prefix
        self.url = 's3://%s/%s' % (bucket, prefix) if prefix else 's3://%s' % bucket
        self.client = server.client()

    def options(self, **extra):
        """The S3 options (endpoint, region, writer keys) plus extra; without `repository`."""
        opts = self.server.options()
        opts.update(extra)
        return opts

    def params(self, **extra):
        """options() plus repository: enough for storage.factory.open_repository()."""
        return self.options(repository=self.url, **extra)

    def keys(self, under=''):
        """All object keys below prefix/under."""
        prefix = '/'.join(p for p in (self.prefix, under) if p)
        out = []
        for page in self.client.get_paginator('list_objects_v2').paginate(
                Bucket=self.bucket, Prefix=prefix + '/' if prefix else ''):
            out.extend(o['Key'] for o in page.get('Contents', []))
        return sorted(out)

    def multipart_uploads(self):
        return [u['Key'] for u in self.client.list_multipart_uploads(Bucket=self.bucket).get('Uploads', [])]


def start_moto(logfile, threaded=True):
    """A started MotoS3; RuntimeError with the server's log when it does not come up."""
    server = MotoS3(logfile, threaded=threaded)
    try:
        server.start()
    except Exception as e:
        server.stop()
        raise RuntimeError('could not start the moto S3 server: %s\n%s' % (e, server.log_tail()))
    return server


class MotoS3(object):
    """moto's S3 server in a subprocess; start() / stop()."""

    def __init__(self, logfile, threaded=True):
        self.threaded = threaded
        self.host = '127.0.0.1'
        self.port = free_port()
        self.endpoint = 'http://%s:%d' % (self.host, self.port)
        self.logfile = logfile
        self.proc = None
        self.access_key = self.secret_key = None
        self.lister_access_key = self.lister_secret_key = None

    def start(self, timeout=60):
        env = dict(os.environ)
        for k in list(env):
            if k.startswith(('AWS_', 'MOTO_')) or k.lower().endswith('_proxy'):
                del env[k]
        with open(self.logfile, 'ab') as log:
            argv = ([sys.executable, '-m', 'moto.server', '-H', self.host, '-p', str(self.port)] if self.threaded
                    else [sys.executable, '-c', _SERIAL_SERVER, self.host, str(self.port)])
            self.proc = subprocess.Popen(
                argv,
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        deadline = time.time() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError('moto.server exited with status %s' % self.proc.returncode)
            try:
                urllib.request.urlopen(self.endpoint + '/moto-api/data.json', timeout=2).read()
                break
            except OSError:
                if time.time() > deadline:
                    raise RuntimeError('moto.server did not answer on %s within %ds' % (self.endpoint, timeout))
                time.sleep(0.2)
        self._setup_iam()

    def _setup_iam(self):
        import boto3
        iam = boto3.client('iam', endpoint_url=self.endpoint, region_name=REGION,
                           aws_access_key_id='bootstrap', aws_secret_access_key='bootstrap')

        def user(name, actions):
            iam.create_user(UserName=name)
            iam.put_user_policy(UserName=name, PolicyName='%s-policy' % name, PolicyDocument=json.dumps({
                'Version': '2012-10-17',
                'Statement': [{'Effect': 'Allow', 'Action': actions, 'Resource': '*'}]}))
            key = iam.create_access_key(UserName=name)['AccessKey']
            return key['AccessKeyId'], key['SecretAccessKey']

        self.access_key, self.secret_key = user('dbbackup-writer', ['s3:*'])
        self.lister_access_key, self.lister_secret_key = user('dbbackup-lister', ['s3:ListBucket'])
        # From now on every request must be signed by a known key and allowed by its policy.
        req = urllib.request.Request(self.endpoint + '/moto-api/reset-auth', data=b'0', method='POST',
                                     headers={'Content-Type': 'text/plain'})
        urllib.request.urlopen(req, timeout=10).read()

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

    def client(self, access_key=None, secret_key=None):
        import boto3
        from botocore.config import Config
        return boto3.client('s3', endpoint_url=self.endpoint, region_name=REGION,
                            aws_access_key_id=access_key or self.access_key,
                            aws_secret_access_key=secret_key or self.secret_key,
                            config=Config(s3={'addressing_style': 'path'}))

    def options(self):
        """The S3 options of the engine/modules for the writer user."""
        return {'s3_endpoint_url': self.endpoint, 's3_region': REGION,
                'aws_access_key': self.access_key, 'aws_secret_key': self.secret_key}

    def env(self, base=None, credentials=True):
        """Environment for a subprocess (CLI): writer keys in the standard AWS variables only."""
        env = dict(os.environ if base is None else base)
        for k in list(env):
            if k.startswith('AWS_'):
                del env[k]
        env['AWS_CONFIG_FILE'] = os.devnull
        env['AWS_SHARED_CREDENTIALS_FILE'] = os.devnull
        env['NO_PROXY'] = env['no_proxy'] = '127.0.0.1,localhost'
        if credentials:
            env['AWS_ACCESS_KEY_ID'] = self.access_key
            env['AWS_SECRET_ACCESS_KEY'] = self.secret_key
            env['AWS_DEFAULT_REGION'] = REGION
        return env

    def new_bucket(self, name, prefix='backups'):
        self.client().create_bucket(Bucket=name)
        return S3Location(self, name, prefix)
