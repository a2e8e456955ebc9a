#!/usr/bin/env python3
"""Signs requests with botocore's SigV4 signers, for comparison with libstkdr's (tests/test_sigv4.c).

stdin: JSON list of {"service", "region", "method", "url", "headers": [[k, v]...], "body", "s3": bool,
"unsigned": bool, "access_key", "secret_key", "token", "date": "YYYYMMDDTHHMMSSZ"}
stdout: JSON list of the Authorization header values.
"""
import datetime
import json
import sys
import types

import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

out = []
for r in json.load(sys.stdin):
    when = datetime.datetime.strptime(r["date"], "%Y%m%dT%H%M%SZ")
    botocore.auth.get_current_datetime = lambda when=when: when
    creds = Credentials(r["access_key"], r["secret_key"], r.get("token"))
    req = AWSRequest(method=r["method"], url=r["url"], data=r.get("body", "").encode())
    for k, v in r["headers"]:
        req.headers[k] = v
    if r.get("s3"):
        signer = botocore.auth.S3SigV4Auth(creds, r["service"], r["region"])
        if r.get("unsigned"):
            req.context["client_config"] = types.SimpleNamespace(s3={"payload_signing_enabled": False})
    else:
        signer = botocore.auth.SigV4Auth(creds, r["service"], r["region"])
    signer.add_auth(req)
    out.append(req.headers["Authorization"])
json.dump(out, sys.stdout)
