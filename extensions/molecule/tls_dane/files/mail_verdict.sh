#!/usr/bin/env bash
# Wait for delivery attempt ATTEMPT (default 1) of the mail with Message-ID <MSGID> and print the
# lines that prove its verdict: the delivery line (status=...), then the TLS lines the same smtp
# process logged for it, i.e. since that process's previous delivery line (Verified/Untrusted,
# Matched DANE, TLSA failures, the names matched or not). MSGID may be several Message-IDs
# separated by spaces: their verdicts are printed in that order, separated by lines "==".
#   mail_verdict.sh LOG MSGID TIMEOUT [ATTEMPT]
set -u
log=$1 msgids=$2 timeout=$3 attempt=${4:-1}

verdict() {
  local msgid=$1 i qid delivery pid
  for ((i = 0; i < timeout * 5; i++)); do
    qid=$(grep -F "message-id=<$msgid>" "$log" | head -1 | sed -E 's/.*: ([0-9A-F]+): message-id=.*/\1/')
    if [[ -n $qid ]]; then
      delivery=$(grep -E "postfix/smtp\[[0-9]+\]: $qid: to=.*status=" "$log" | sed -n "${attempt}p")
      if [[ -n $delivery ]]; then
        pid=$(sed -E 's/.*postfix\/smtp\[([0-9]+)\].*/\1/' <<< "$delivery")
        echo "$delivery"
        awk -v start="message-id=<$msgid>" -v stop="$delivery" -v pid="postfix/smtp[$pid]:" '
          index($0, start) { on = 1 }
          !on || !index($0, pid) { next }
          $0 == stop { for (k = 1; k <= n; k++) print kept[k]; exit }
          / to=<.*, status=/ { n = 0; next }
          /TLS connection established|Matched DANE|DANE TLSA|TLSA records|using DANE RR|matched end entity|certificate verification failed|matched peername|CommonName|STS/ { kept[++n] = $0 }' "$log"
        return 0
      fi
    fi
    sleep 0.2
  done
  echo "no delivery attempt $attempt of <$msgid> within $timeout s (queue id: ${qid:-none})" >&2
  return 1
}

first=1
for msgid in $msgids; do
  ((first)) || echo "=="
  first=0
  verdict "$msgid" || exit 1
done
