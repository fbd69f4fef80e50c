# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared documentation of the backup repository options."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):

    DOCUMENTATION = r'''
options:
  repository:
    description:
      - Where backups are stored, either an absolute directory path on the host that runs the module
        or an S3-compatible bucket, C(s3://bucket) or C(s3://bucket/prefix) (see the O(s3_endpoint_url)
        and C(aws_*) options), an Azure Blob Storage container, C(azure://container/prefix) (C(azure_*) options),
        or a Google Cloud Storage bucket, C(gs://bucket/prefix) (C(gcs_*) options).
      - Backups of one database live under C(<repository>/<server_name>/logical/<database>/<backup_id>/);
        a backup is complete only once its C(manifest.json) exists.
      - A directory is created (mode 0700) when missing; files are written with mode 0600.
        A bucket or container must exist.
    type: str
    required: true
  server_name:
    description:
      - Name of the server inside the repository, so that one repository can hold backups of many servers.
      - Defaults to O(login_host), with C(_<port>) appended when O(login_port) is not 5432,
        or C(localhost) when only a Unix socket is used.
    type: str
  s3_endpoint_url:
    description:
      - URL of an S3-compatible endpoint (MinIO, Ceph RGW, Wasabi, ...), for example V(https://minio.example.com:9000).
      - When not set, AWS S3 (or the C(AWS_ENDPOINT_URL) environment variable) is used.
      - Only used with an C(s3://) O(repository), like all C(s3_*) and C(aws_*) options.
    type: str
  s3_region:
    description:
      - Region of the bucket. When not set, the AWS configuration of the host (C(AWS_DEFAULT_REGION), the profile) applies.
    type: str
  s3_addressing_style:
    description:
      - How the bucket is put into request URLs. V(path) is C(https://endpoint/bucket/key),
        V(virtual) is C(https://bucket.endpoint/key), V(auto) lets boto3 choose.
      - When not set, V(path) with O(s3_endpoint_url) (what most S3-compatible servers expect) and V(auto) without it.
    type: str
    choices: [ auto, path, virtual ]
  aws_access_key:
    description:
      - Access key ID. Give it together with O(aws_secret_key).
      - When neither is given, the usual AWS chain on the host that runs the module applies
        (C(AWS_ACCESS_KEY_ID)/C(AWS_SECRET_ACCESS_KEY)/C(AWS_SESSION_TOKEN), C(AWS_PROFILE), C(~/.aws/credentials),
        web identity, container or instance role).
    type: str
  aws_secret_key:
    description:
      - Secret access key. Never logged or returned.
    type: str
  aws_session_token:
    description:
      - Session token of temporary credentials, with O(aws_access_key) and O(aws_secret_key). Never logged or returned.
    type: str
  aws_profile:
    description:
      - Named profile from the AWS config and credentials files of the user that runs the module.
      - Mutually exclusive with O(aws_access_key).
    type: str
  s3_storage_class:
    description:
      - Storage class of the data objects, for example V(STANDARD_IA), V(ONEZONE_IA), V(INTELLIGENT_TIERING),
        V(GLACIER_IR), or whatever the endpoint supports.
      - C(manifest.json) is always stored in the bucket's default class, so listing and C(max_age) keep working.
        Objects in archive classes (V(GLACIER), V(DEEP_ARCHIVE)) must be restored from the archive before a restore.
      - When not set, the bucket's default class applies.
    type: str
  s3_sse:
    description:
      - Server-side encryption of every object, V(AES256) (S3-managed keys) or V(aws:kms).
      - This is encryption at rest by the storage service; it is independent of the collection's own encryption.
    type: str
    choices: [ AES256, aws:kms ]
  s3_sse_kms_key_id:
    description:
      - KMS key ID or ARN for O(s3_sse=aws:kms); implies O(s3_sse=aws:kms) when O(s3_sse) is not set.
    type: str
  s3_ca_bundle:
    description:
      - CA bundle file to verify the TLS certificate of the endpoint (a private CA).
    type: path
  s3_validate_certs:
    description:
      - Verify the TLS certificate of the endpoint. Set to V(false) only for testing.
    type: bool
    default: true
  azure_account_name:
    description:
      - Storage account of an C(azure://) O(repository). When not set, C(AZURE_STORAGE_ACCOUNT), the connection string
        or O(azure_account_url) tells it.
    type: str
  azure_account_url:
    description:
      - Blob service endpoint, for example V(https://myaccount.blob.core.windows.net) (the default for
        O(azure_account_name)), a sovereign cloud or private endpoint, or Azurite's V(http://127.0.0.1:10000/devstoreaccount1).
    type: str
  azure_account_key:
    description:
      - Shared key of the storage account. Never logged or returned.
      - The credentials of an C(azure://) repository are, first found wins, O(azure_connection_string),
        O(azure_account_key) or O(azure_sas_token) (mutually exclusive), the environment variables
        C(AZURE_STORAGE_CONNECTION_STRING), C(AZURE_STORAGE_KEY), C(AZURE_STORAGE_SAS_TOKEN) on the host that runs
        the module, then C(DefaultAzureCredential) of azure-identity (managed identity, workload identity,
        C(AZURE_CLIENT_ID)/C(AZURE_TENANT_ID)/C(AZURE_CLIENT_SECRET), Azure CLI login).
    type: str
  azure_sas_token:
    description:
      - Shared access signature with read, add, create, write, delete and list permissions on the container.
        Never logged or returned.
    type: str
  azure_connection_string:
    description:
      - Connection string of the storage account (it carries the account, endpoint and key or SAS). Never logged or returned.
    type: str
  azure_access_tier:
    description:
      - Access tier of the data blobs. C(manifest.json) always stays in the account's default tier, so listing and
        C(max_age) keep working; blobs in V(Archive) must be rehydrated before a restore.
      - When not set, the account's default tier applies.
    type: str
    choices: [ Hot, Cool, Cold, Archive ]
  azure_encryption_scope:
    description:
      - Encryption scope of every blob (server-side encryption with the scope's key, for example a customer-managed
        key in Key Vault). Azure always encrypts at rest; without a scope the account's default applies.
    type: str
  gcs_endpoint_url:
    description:
      - Endpoint of a C(gs://) O(repository) other than V(https://storage.googleapis.com), for example a Private
        Service Connect endpoint or an emulator. C(STORAGE_EMULATOR_HOST) is honoured too (without credentials).
    type: str
  gcs_project:
    description:
      - Google Cloud project of the client. Not needed for a bucket that exists.
    type: str
  gcs_credentials_file:
    description:
      - Service-account key file (JSON) on the host that runs the module.
      - When neither this nor O(gcs_credentials_json) is given, Google's application default credentials apply
        (C(GOOGLE_APPLICATION_CREDENTIALS), C(gcloud auth application-default login), the service account of a VM or
        GKE workload identity).
    type: path
  gcs_credentials_json:
    description:
      - Content of a service-account key (JSON), for example from Ansible Vault. Never logged or returned.
      - Mutually exclusive with O(gcs_credentials_file).
    type: str
  gcs_storage_class:
    description:
      - Storage class of the data objects. C(manifest.json) always stays in the bucket's default class.
      - When not set, the bucket's default class applies.
    type: str
    choices: [ STANDARD, NEARLINE, COLDLINE, ARCHIVE ]
  gcs_kms_key_name:
    description:
      - Cloud KMS key (C(projects/P/locations/L/keyRings/R/cryptoKeys/K)) that encrypts every object
        (customer-managed encryption). Google always encrypts at rest; without it the bucket's default applies.
    type: str
requirements:
  - boto3, for an C(s3://) repository
  - azure-storage-blob (and azure-identity for token credentials), for an C(azure://) repository
  - google-cloud-storage, for a C(gs://) repository
'''
