#!/usr/bin/env python3
"""The AWS Price List API (`GetProducts`), served from tests/fixtures/pricing/get-products.json,
for the local stack: moto has no Price List API. Started by tools/stack.py beside moto; the SDK
finds it through `AWS_ENDPOINT_URL_PRICING`.

It answers `AWSPriceListService.GetProducts` (JSON 1.1) as AWS does: the products of the
service code whose attributes (and product family) match every filter (`TERM_MATCH` and
`EQUALS` exact, `CONTAINS`, `ANY_OF` and `NONE_OF` with comma-separated values), each one a JSON
document in `PriceList`, `MaxResults` per page (default 100) with a `NextToken`. Any other call
is refused as AWS refuses an unknown operation. Each call is appended as a JSON line to
$CARETAKER_STACK_DIR/pricing.jsonl (operation, filters, the caller's access key id), which is
how tests count calls. It checks no signature and no IAM: the rehearsal says so.

    pricing_fixture.py PORT
"""
import json
import os
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRODUCTS = json.loads((ROOT / "tests/fixtures/pricing/get-products.json").read_text())["products"]
LOG = Path(os.environ["CARETAKER_STACK_DIR"]) / "pricing.jsonl" if os.environ.get("CARETAKER_STACK_DIR") else None
_lock = threading.Lock()


def matches(product, filters):
    fields = {**product["product"]["attributes"], "productFamily": product["product"]["productFamily"]}
    for f in filters:
        have = str(fields.get(f["Field"], ""))
        value, kind = f["Value"], f.get("Type", "TERM_MATCH")
        if kind in ("TERM_MATCH", "EQUALS"):
            ok = have.lower() == value.lower()
        elif kind == "CONTAINS":
            ok = value.lower() in have.lower()
        elif kind == "ANY_OF":
            ok = have.lower() in [v.strip().lower() for v in value.split(",")]
        elif kind == "NONE_OF":
            ok = have.lower() not in [v.strip().lower() for v in value.split(",")]
        else:
            raise ValueError(f"unknown filter type {kind}")
        if not ok:
            return False
    return True


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *_):
        pass

    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        req = json.loads(self.rfile.read(length) or b"{}")
        target = self.headers.get("X-Amz-Target", "")
        key = re.search(r"Credential=([^/]+)/", self.headers.get("Authorization", ""))
        if LOG:
            with _lock, open(LOG, "a") as f:
                f.write(json.dumps({"operation": target.split(".")[-1], "serviceCode": req.get("ServiceCode"),
                                    "filters": req.get("Filters", []),
                                    "accessKeyId": key.group(1) if key else None}) + "\n")
        if target != "AWSPriceListService.GetProducts":
            return self.answer(400, {"__type": "UnknownOperationException", "message": f"{target} is not served here"})
        try:
            found = [p for p in PRODUCTS if p["serviceCode"] == req.get("ServiceCode")
                     and matches(p, req.get("Filters", []))]
        except ValueError as e:
            return self.answer(400, {"__type": "InvalidParameterException", "Message": str(e)})
        start = int(req.get("NextToken") or 0)
        size = int(req.get("MaxResults") or 100)
        page = found[start:start + size]
        body = {"FormatVersion": "aws_v1", "PriceList": [json.dumps(p) for p in page]}
        if start + size < len(found):
            body["NextToken"] = str(start + size)
        self.answer(200, body)


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    server.serve_forever()
