#!/usr/bin/env bash
# What receivers serve over STARTTLS, as one JSON object: reads lines "LABEL HOST:PORT [s_client
# options]" on stdin and prints, for each label, whether the handshake was established, the
# protocol and cipher, whether STARTTLS was offered, and the served certificate's SHA-256
# fingerprint and DANE 3 1 1 digest (SHA-256 of its DER SubjectPublicKeyInfo), computed here
# with openssl alone.
set -u
sep=""

ehlo() {  # the EHLO answer of HOST PORT, one line each
  (
    exec 3<>"/dev/tcp/$1/$2" || exit 1
    IFS= read -r -t 10 line <&3 || exit 1
    printf 'EHLO client.test\r\n' >&3
    while IFS= read -r -t 10 line <&3; do
      line=${line%$'\r'}
      printf '%s\n' "$line"
      case $line in "250 "*) break ;; esac
    done
    printf 'QUIT\r\n' >&3
  )
}

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
  established=false starttls=true
  if [ "$rc" = 0 ] && [ -n "$protocol" ]; then
    established=true
  elif ! ehlo "${target%:*}" "${target##*:}" | grep -qi '^250[ -]STARTTLS'; then
    starttls=false  # s_client of OpenSSL 3.5 no longer says so itself
  fi
  error=$(printf '%s\n' "$out" | grep -m1 -iE 'error|alert|didn.t find' | sed 's/["\\]//g' | cut -c1-200)
  printf '%s"%s": {"established": %s, "starttls": %s, "protocol": "%s", "cipher": "%s", "fingerprint": "%s", "tlsa": "%s", "subject": "%s", "error": "%s"}' \
    "$sep" "$label" "$established" "$starttls" "$protocol" "$cipher" "$fingerprint" "$tlsa" "$subject" "$error"
  sep=", "
done
printf '}\n'
