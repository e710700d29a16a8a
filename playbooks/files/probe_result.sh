#!/bin/sh
# Report what Postfix did with one probe message, from its log: the queue id (found by its
# Message-ID), the delivery status, the relay and the TLS handshake of the connection that
# carried it (the last handshake the same smtp process logged since its previous delivery).
# Usage: probe_result.sh LOGFILE MESSAGE-ID RECIPIENT. Prints one JSON object.
awk -v msgid="$2" -v rcpt="$3" '
function pid_of(line) {
  if (match(line, /\/smtp\[[0-9]+\]: /)) return substr(line, RSTART + 6, RLENGTH - 9)
  return ""
}
function clean(text) { gsub(/["\\]/, "", text); return text }
index($0, ": message-id=<" msgid ">") {
  if (match($0, /: [0-9A-F]+: message-id=/)) qid = substr($0, RSTART + 2, RLENGTH - 15)
  next
}
/TLS connection established to / {
  pid = pid_of($0)
  text = $0
  sub(/.*TLS connection established to [^ ]*: /, "", text)
  tls[pid] = text
  next
}
/ status=/ {
  pid = pid_of($0)
  if (qid != "" && index($0, " " qid ": to=<" rcpt ">,")) {
    status = $0; sub(/.* status=/, "", status); detail = status; sub(/ .*/, "", status)
    sub(/^[a-z]+ \(?/, "", detail); sub(/\)$/, "", detail)
    relay = $0; sub(/.* relay=/, "", relay); sub(/,.*/, "", relay)
    used_tls = (pid in tls) ? tls[pid] : ""
  }
  if (pid != "") delete tls[pid]
}
END {
  printf "{\"queue_id\": \"%s\", \"status\": \"%s\", \"relay\": \"%s\", \"tls\": \"%s\", \"detail\": \"%s\"}\n",
    qid, status, clean(relay), clean(used_tls), clean(detail)
}' "$1"
