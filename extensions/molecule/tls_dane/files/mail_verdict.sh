#!/usr/bin/env bash
# Wait for the first delivery attempt of the mail with Message-ID <MSGID> and print the lines
# that prove its verdict: the delivery line (status=...), then the TLS lines the same smtp
# process logged for it (Verified/Untrusted, Matched DANE, TLSA failures).
#   mail_verdict.sh LOG MSGID TIMEOUT
set -u
log=$1 msgid=$2 timeout=$3
for ((i = 0; i < timeout * 5; i++)); do
  qid=$(grep -F "message-id=<$msgid>" "$log" | head -1 | sed -E 's/.*: ([0-9A-F]+): message-id=.*/\1/')
  if [[ -n $qid ]]; then
    delivery=$(grep -E "postfix/smtp\[[0-9]+\]: $qid: to=.*status=" "$log" | head -1)
    if [[ -n $delivery ]]; then
      pid=$(sed -E 's/.*postfix\/smtp\[([0-9]+)\].*/\1/' <<< "$delivery")
      echo "$delivery"
      # The smtp process's TLS lines between the mail's arrival and its delivery line.
      awk -v start="message-id=<$msgid>" -v stop="$delivery" -v pid="postfix/smtp[$pid]:" '
        index($0, start) { on = 1 }
        on && $0 == stop { exit }
        on && index($0, pid) && /TLS connection established|Matched DANE|DANE TLSA|TLSA records|using DANE RR|matched end entity|certificate verification failed/' "$log"
      exit 0
    fi
  fi
  sleep 0.2
done
echo "no delivery attempt of <$msgid> within $timeout s (queue id: ${qid:-none})" >&2
exit 1
