#!/usr/bin/env bash
# Installs what a fresh Talos cluster needs before Flux can take over:
#   namespaces -> secrets (age key, deploy key, cluster-secrets) -> CRDs -> first apps.
# Run it from anywhere (`task bootstrap:apps` does), after `talhelper` has bootstrapped
# the nodes and written the kubeconfig. Every step is idempotent: run it again after a
# failure. Secrets are decrypted with sops straight into kubectl; no plaintext file.
set -Eeuo pipefail

ROOT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BOOTSTRAP_DIR="${ROOT_DIR}/bootstrap"
APPS_DIR="${ROOT_DIR}/kubernetes/apps"
NODE_TIMEOUT="${BOOTSTRAP_NODE_TIMEOUT:-600}"

# Default to the repo's own files: age.key (made by `task init`) and the kubeconfig
# `task bootstrap:talos` writes; exported variables win.
if [[ -z "${SOPS_AGE_KEY_FILE:-}" && -f "${ROOT_DIR}/age.key" ]]; then
    export SOPS_AGE_KEY_FILE="${ROOT_DIR}/age.key"
fi
if [[ -z "${KUBECONFIG:-}" && -f "${ROOT_DIR}/kubeconfig" ]]; then
    export KUBECONFIG="${ROOT_DIR}/kubeconfig"
fi

PHASE="start"
PHASE_STARTED=${SECONDS}

log() {
    printf '%s [%s] %s\n' "$(date +%H:%M:%S)" "${PHASE}" "$*" >&2
}

# Stop with the phase and the object that failed, and how to go on.
fail() {
    local object="$1" message="$2"
    printf '\nbootstrap failed in phase "%s" on %s: %s\n' "${PHASE}" "${object}" "${message}" >&2
    printf 'Fix the cause and run the script again; finished steps are skipped or re-applied.\n' >&2
    exit 1
}

# Anything that fails without an explicit `fail` still names the phase and the command.
on_error() {
    local rc="$1" line="$2" command="$3"
    printf '\nbootstrap failed in phase "%s": "%s" exited with %s (line %s)\n' \
        "${PHASE}" "${command}" "${rc}" "${line}" >&2
}
trap 'on_error "$?" "${LINENO}" "${BASH_COMMAND}"' ERR

phase() {
    PHASE="$1"
    PHASE_STARTED=${SECONDS}
    log "started"
}

phase_done() {
    log "done in $((SECONDS - PHASE_STARTED))s"
}

check_tools() {
    phase "preflight"
    local tool missing=()
    for tool in kubectl helm helmfile sops yq; do
        command -v "${tool}" >/dev/null 2>&1 || missing+=("${tool}")
    done
    if ((${#missing[@]} > 0)); then
        fail "${missing[*]}" "not installed (needed: kubectl helm helmfile sops yq)"
    fi
    # The CRD filter uses mikefarah/yq v4 syntax; the Python yq wrapper differs.
    if ! yq --version 2>&1 | grep -q 'mikefarah'; then
        fail "yq" "mikefarah/yq v4 is required (https://github.com/mikefarah/yq), found: $(yq --version 2>&1 | head -n1)"
    fi
    if [[ -z "${SOPS_AGE_KEY_FILE:-}" || ! -f "${SOPS_AGE_KEY_FILE}" ]]; then
        fail "SOPS_AGE_KEY_FILE" "no age key; put age.key in ${ROOT_DIR} or export SOPS_AGE_KEY_FILE"
    fi
    local file
    for file in \
        "${BOOTSTRAP_DIR}/sops-age.sops.yaml" \
        "${BOOTSTRAP_DIR}/helmfile.d/00-crds.yaml" \
        "${BOOTSTRAP_DIR}/helmfile.d/01-apps.yaml" \
        "${ROOT_DIR}/kubernetes/components/sops/cluster-secrets.sops.yaml"; do
        [[ -f "${file}" ]] || fail "${file#"${ROOT_DIR}/"}" "missing; run \`uv run task configure\` first"
    done
    if ! kubectl version --request-timeout=10s >/dev/null 2>&1; then
        fail "kubectl" "cannot reach the cluster; check KUBECONFIG (${KUBECONFIG:-~/.kube/config})"
    fi
    phase_done
}

# Every node of talconfig.yaml registered, Ready or not: Talos nodes stay NotReady until a
# CNI runs, and on a rerun some may be Ready while another is not.
wait_for_nodes() {
    phase "nodes"
    local expected registered deadline=$((SECONDS + NODE_TIMEOUT))
    expected="$(grep -c '^  - hostname:' "${ROOT_DIR}/talos/talconfig.yaml" 2>/dev/null || true)"
    expected="${expected:-1}"
    while true; do
        registered="$(kubectl get nodes --no-headers 2>/dev/null | wc -l | tr -d ' ' || true)"
        if ((registered > 0 && registered >= expected)); then
            break
        fi
        if ((SECONDS >= deadline)); then
            fail "nodes" "${registered}/${expected} registered after ${NODE_TIMEOUT}s; check \`talosctl health\`"
        fi
        log "waiting for the nodes to register (${registered}/${expected})..."
        sleep 10
    done
    log "${registered} node(s) registered"
    phase_done
}

# The Namespace objects of kubernetes/apps (with their Pod Security labels), so the
# secrets and releases below have somewhere to go; Flux adopts them later.
apply_namespaces() {
    phase "namespaces"
    local file name
    for file in "${APPS_DIR}"/*/namespace.yaml; do
        [[ -f "${file}" ]] || fail "${APPS_DIR#"${ROOT_DIR}/"}" "no namespace.yaml under it; run \`uv run task configure\`"
        name="$(basename "$(dirname "${file}")")"
        if ! kubectl apply --server-side --field-manager=bootstrap --filename "${file}" >/dev/null; then
            fail "namespace/${name}" "kubectl apply failed"
        fi
        log "namespace/${name} applied"
    done
    phase_done
}

# Decrypt and apply every bootstrap secret in parallel; report each failure by file.
apply_secrets() {
    phase "secrets"
    local secrets=(
        "${BOOTSTRAP_DIR}/sops-age.sops.yaml"
        "${ROOT_DIR}/kubernetes/components/sops/cluster-secrets.sops.yaml"
    )
    # Only rendered for ssh:// repositories.
    if [[ -f "${BOOTSTRAP_DIR}/deploy-key.sops.yaml" ]]; then
        secrets+=("${BOOTSTRAP_DIR}/deploy-key.sops.yaml")
    fi

    local file logs pids=() failed=()
    logs="$(mktemp -d)"
    for file in "${secrets[@]}"; do
        (
            trap - ERR # failures are reported below, per file
            sops decrypt "${file}" \
                | kubectl apply --namespace flux-system --server-side --field-manager=bootstrap --filename -
        ) >"${logs}/$(basename "${file}").log" 2>&1 &
        pids+=("$!")
    done
    local i
    for i in "${!secrets[@]}"; do
        file="${secrets[${i}]}"
        if wait "${pids[${i}]}"; then
            log "${file#"${ROOT_DIR}/"} applied"
        else
            failed+=("${file#"${ROOT_DIR}/"}")
            sed 's/^/    /' "${logs}/$(basename "${file}").log" >&2
        fi
    done
    rm -rf "${logs}"
    if ((${#failed[@]} > 0)); then
        fail "${failed[*]}" "sops decrypt | kubectl apply failed (is SOPS_AGE_KEY_FILE the key of .sops.yaml?)"
    fi
    phase_done
}

# Only the CustomResourceDefinitions of the charts in 00-crds.yaml, applied directly.
apply_crds() {
    phase "crds"
    local file="${BOOTSTRAP_DIR}/helmfile.d/00-crds.yaml" crds
    if ! crds="$(helmfile --file "${file}" template --quiet \
        | yq eval-all --exit-status 'select(.kind == "CustomResourceDefinition")')" \
        || [[ -z "${crds}" ]]; then
        fail "${file#"${ROOT_DIR}/"}" "could not render CRDs from the charts"
    fi
    if ! kubectl apply --server-side --force-conflicts --field-manager=bootstrap --filename - <<<"${crds}" >/dev/null; then
        fail "${file#"${ROOT_DIR}/"}" "kubectl apply of the CRDs failed"
    fi
    if ! kubectl wait --for=condition=Established crd --all --timeout=120s >/dev/null; then
        fail "CustomResourceDefinitions" "not Established after 120s"
    fi
    log "$(grep -c '^kind: CustomResourceDefinition' <<<"${crds}") CRDs applied"
    phase_done
}

# cilium -> coredns -> ... -> flux-instance, each waiting for the one it needs.
sync_apps() {
    phase "apps"
    local file="${BOOTSTRAP_DIR}/helmfile.d/01-apps.yaml"
    if ! helmfile --file "${file}" sync --hide-notes; then
        fail "${file#"${ROOT_DIR}/"}" "helmfile sync failed (the release is named above)"
    fi
    phase_done
}

main() {
    local started=${SECONDS}
    check_tools
    wait_for_nodes
    apply_namespaces
    apply_secrets
    apply_crds
    sync_apps
    PHASE="done"
    log "cluster bootstrapped in $((SECONDS - started))s; Flux now syncs the repository (flux get ks -A)"
}

main "$@"
