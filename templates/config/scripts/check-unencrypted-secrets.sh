#!/bin/sh
# Fail when a commit would publish a secret: a *.sops.* file without sops
# metadata (it was never encrypted, or was decrypted in place), a private
# key file, or a secret value in cluster.yaml (`clustergen secrets check`). Checks the files given as arguments (pre-commit passes the staged
# ones), or the files staged in git when called without arguments; then it
# reads what is staged, which is what the commit would hold.
set -u

status=0
from_index=0

content() {
    if [ "$from_index" -eq 1 ]; then git show ":$1"; else cat "$1"; fi
}

# A tracked cluster.yaml must hold no value for a key the schema marks secret (they
# belong in cluster.secrets.sops.yaml); clustergen knows which keys those are.
check_config() {
    if ! command -v uv >/dev/null 2>&1; then
        echo "$1: not checked for secret values (uv not found)" >&2
        return
    fi
    if ! out=$(uv run --quiet clustergen secrets check --dir "$(dirname "$1")" 2>&1); then
        printf '%s\n' "$out" >&2
        status=1
    fi
}

check_file() {
    path=$1
    name=${path##*/}
    case $name in
        age.key | age.key.old | deploy.key | webhook.token | cloudflare-tunnel.json)
            echo "$path: private key file staged; run: git rm --cached '$path'" >&2
            status=1
            return
            ;;
        cluster.yaml)
            check_config "$path"
            return
            ;;
        .sops.yaml) return ;;
        *.sops.*) ;;
        *) return ;;
    esac
    [ "$from_index" -eq 1 ] || [ -f "$path" ] || return # staged for deletion
    # sops writes its metadata as a `sops:` block (YAML), a "sops" key (JSON)
    # or sops_* lines (dotenv); every variant carries a MAC.
    if ! content "$path" | grep -Eq '^sops:|"sops"[[:space:]]*:|^sops_mac=' ||
        ! content "$path" | grep -Eq '^[[:space:]]+mac:|"mac"[[:space:]]*:|^sops_mac='; then
        echo "$path: not encrypted; run: sops encrypt --in-place '$path'" >&2
        status=1
    fi
}

if [ $# -gt 0 ]; then
    for path in "$@"; do check_file "$path"; done
else
    from_index=1
    staged=$(git diff --cached --name-only --diff-filter=ACMR) || exit 2
    # Newline-separated; file names with newlines are not supported.
    old_ifs=$IFS
    IFS='
'
    for path in $staged; do check_file "$path"; done
    IFS=$old_ifs
fi

if [ "$status" -ne 0 ]; then
    echo "commit refused: secrets must be encrypted and key files must stay out of git" >&2
fi
exit "$status"
