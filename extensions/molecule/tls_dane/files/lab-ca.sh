#!/bin/sh
# The lab's CA and the one certificate nginx serves for every MTA-STS policy host, made once on
# the DNS host: its first NAME is the subject, every NAME a subjectAltName (RFC 8461 section 3.3:
# the policy host's certificate must be valid for mta-sts.<domain>).
#   lab-ca.sh NAME...
set -eu
dir=/etc/nginx/lab
mkdir -p "$dir"
cd "$dir"
san=""
for name in "$@"; do san="${san:+$san,}DNS:$name"; done
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
  -subj "/CN=mailtls lab CA" -keyout ca.key -out ca.pem \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -subj "/CN=$1" -keyout mta-sts.key -out mta-sts.csr 2>/dev/null
printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' "$san" > ext.cnf
openssl x509 -req -in mta-sts.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 \
  -extfile ext.cnf -out mta-sts.pem 2>/dev/null
chmod 600 ca.key mta-sts.key
