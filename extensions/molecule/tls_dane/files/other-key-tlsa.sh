#!/bin/sh
# The 3 1 1 data of a key no host deploys (made once): SHA-256 of its DER SubjectPublicKeyInfo.
set -eu
key=/var/lib/knot-lab/other.key
[ -s "$key" ] || openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$key" 2>/dev/null
openssl pkey -in "$key" -pubout -outform DER | openssl dgst -sha256 -r | cut -d' ' -f1
