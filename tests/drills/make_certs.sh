#!/usr/bin/env bash
# make_certs.sh DIR -- the certificates of the TLS drills, made fresh with
# openssl (never committed): a test CA and, as PEM pairs NAME.pem/NAME.key,
#   good       signed by the CA, for 127.0.0.1 and localhost
#   self       self-signed, for 127.0.0.1 (no CA vouches for it)
#   wronghost  signed by the CA, but for wrong.example only
#   expired    signed by the CA, for 127.0.0.1, valid only in 2020
set -euo pipefail
dir=$1
mkdir -p "$dir"
cd "$dir"
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:prime256v1 -out "$1" 2>/dev/null; }

key ca.key
openssl req -x509 -new -key ca.key -out ca.pem -days 2 -subj "/CN=qxtv drills test CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"

leaf() { # NAME SAN
  key "$1.key"
  openssl req -new -key "$1.key" -out "$1.csr" -subj "/CN=$1"
  printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' "$2" >"$1.ext"
}
leaf good "IP:127.0.0.1,DNS:localhost"
openssl x509 -req -in good.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out good.pem -days 2 \
  -extfile good.ext 2>/dev/null
leaf wronghost "DNS:wrong.example"
openssl x509 -req -in wronghost.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out wronghost.pem \
  -days 2 -extfile wronghost.ext 2>/dev/null

key self.key
openssl req -x509 -new -key self.key -out self.pem -days 2 -subj "/CN=127.0.0.1" \
  -addext "subjectAltName=IP:127.0.0.1"

# Dates in the past need `openssl ca` (x509 -req only counts days from now).
leaf expired "IP:127.0.0.1"
mkdir -p ca-db
: >ca-db/index.txt
cat >ca.cnf <<CNF
[ca]
default_ca = drills
[drills]
database = ca-db/index.txt
new_certs_dir = ca-db
serial = ca-db/serial
default_md = sha256
policy = anything
copy_extensions = none
[anything]
commonName = supplied
CNF
echo 01 >ca-db/serial
openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key -in expired.csr -out expired.pem \
  -startdate 20200101000000Z -enddate 20200102000000Z -extfile expired.ext -notext 2>/dev/null
