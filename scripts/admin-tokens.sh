#!/usr/bin/env bash
# admin-tokens.sh DIR ROLE:SUBJECT...: new admin API tokens, one per person.
#
#   scripts/admin-tokens.sh ./tokens operator:alice viewer:bob
#
# writes, in DIR (created 0700; every file 0600):
#   tokens.yaml       what the services read (admin.tokens_file): subject, role
#                     and the sha256 of each token; no token itself
#   SUBJECT.token     the token, one line, to hand to that person (kubemendctl
#                     --token-file, KUBEMENDCTL_TOKEN_FILE, the console login)
# Existing files in DIR are replaced. ./kubemend up runs this for its run dir;
# docs/deploy.md shows how to turn tokens.yaml into the compose secret and the
# Kubernetes Secret kubemend-admin-tokens.
set -euo pipefail
usage() { echo "usage: $0 DIR ROLE:SUBJECT... (ROLE operator or viewer)" >&2; exit 2; }
(($# >= 2)) || usage
dir=$1; shift
for spec in "$@"; do
  [[ $spec =~ ^(operator|viewer):[A-Za-z0-9._@-]{1,64}$ ]] \
    || { echo "admin-tokens: '$spec' is not ROLE:SUBJECT (role operator|viewer; subject of letters, digits, . _ @ -)" >&2; exit 2; }
done
mkdir -p "$dir"
chmod 700 "$dir"
umask 077
tmp=$(mktemp "$dir/.tokens.XXXXXX")
{
  echo "# admin API tokens (scripts/admin-tokens.sh): sha256 only; the tokens are in SUBJECT.token"
  echo "tokens:"
} >"$tmp"
for spec in "$@"; do
  role=${spec%%:*} subject=${spec#*:}
  token=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
  printf '%s\n' "$token" >"$dir/$subject.token"
  chmod 600 "$dir/$subject.token"
  printf '  - {subject: "%s", role: %s, sha256: %s}\n' "$subject" "$role" \
    "$(printf '%s' "$token" | sha256sum | cut -d' ' -f1)" >>"$tmp"
done
chmod 600 "$tmp"
mv "$tmp" "$dir/tokens.yaml"
