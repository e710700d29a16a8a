#!/bin/sh
# The lab's CA and the certificate nginx serves for mta-sts.<zone>, made once on the DNS host.
#   lab-ca.sh ZONE
set -eu
zone=$1
dir=/etc/nginx/lab
mkdir -p "$dir"
cd "$dir"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
  -subj "/CN=mailtls lab CA" -keyout ca.key -out ca.pem \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -subj "/CN=mta-sts.$zone" -keyout mta-sts.key -out mta-sts.csr 2>/dev/null
printf 'subjectAltName=DNS:mta-sts.%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' "$zone" > ext.cnf
openssl x509 -req -in mta-sts.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 \
  -extfile ext.cnf -out mta-sts.pem 2>/dev/null
chmod 600 ca.key mta-sts.key
