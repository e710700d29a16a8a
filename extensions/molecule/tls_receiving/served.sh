#!/bin/bash
# What receivers serve over STARTTLS, as one JSON object: reads lines "LABEL HOST:PORT [s_client
# options]" on stdin and prints, for each label, whether the handshake was established, the
# protocol and cipher, whether STARTTLS was offered, and the served certificate's SHA-256
# fingerprint and DANE 3 1 1 digest (SHA-256 of its DER SubjectPublicKeyInfo), computed here
# with openssl alone.
set -u
sep=""
printf '{'
while read -r label target opts; do
  [ -n "$label" ] || continue
  # shellcheck disable=SC2086  # the options are words
  out=$(timeout 20 openssl s_client -starttls smtp -connect "$target" $opts </dev/null 2>&1)
  rc=$?
  cert=$(printf '%s\n' "$out" | sed -n '/-----BEGIN CERTIFICATE-----/,/-----END CERTIFICATE-----/p')
  fingerprint="" tlsa="" subject=""
  if [ -n "$cert" ]; then
    fingerprint=$(printf '%s\n' "$cert" | openssl x509 -noout -fingerprint -sha256 | cut -d= -f2)
    subject=$(printf '%s\n' "$cert" | openssl x509 -noout -subject -nameopt RFC2253 | sed 's/^subject=//')
    tlsa=$(printf '%s\n' "$cert" | openssl x509 -pubkey -noout | openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1)
  fi
  # The session's protocol ("New, TLSv1.0, Cipher is ..." names the cipher's version, not the protocol).
  protocol=$(printf '%s\n' "$out" | sed -n 's/^ *Protocol *: *\(TLSv[0-9.]*\)$/\1/p' | head -1)
  cipher=$(printf '%s\n' "$out" | sed -n 's/^New, .*, Cipher is \(.*\)$/\1/p' | head -1)
  if [ "$cipher" = "(NONE)" ]; then protocol="" cipher=""; fi
  starttls=true
  if printf '%s\n' "$out" | grep -q "Didn't find STARTTLS"; then starttls=false; fi
  established=false
  if [ "$rc" = 0 ] && [ -n "$protocol" ]; then established=true; fi
  error=$(printf '%s\n' "$out" | grep -m1 -iE 'error|alert|didn.t find' | tr -d '"\\' | cut -c1-200)
  printf '%s"%s": {"established": %s, "starttls": %s, "protocol": "%s", "cipher": "%s", "fingerprint": "%s", "tlsa": "%s", "subject": "%s", "error": "%s"}' \
    "$sep" "$label" "$established" "$starttls" "$protocol" "$cipher" "$fingerprint" "$tlsa" "$subject" "$error"
  sep=", "
done
printf '}\n'
