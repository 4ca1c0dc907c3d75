#!/usr/bin/env bash
# The steps of .github/workflows/e2e.yaml: a real deploy of a rendered repository.
#
# talosctl-cluster-action boots maintenance-mode Talos VMs (talos-cluster.yaml) and exports
# their addresses. This script then does what a user does on bare metal: discovers the
# nodes' disks and MACs, writes cluster.yaml (cluster_config.py), runs clustergen, serves
# the rendered repository from a local git server, runs the real bootstrap and waits for
# every Flux Kustomization and HelmRelease to be Ready.
#
#   e2e.sh runner-setup          QEMU and swap on the runner
#   e2e.sh git-server            start the git server the cluster's Flux pulls from
#   e2e.sh prepare VARIANT       discover nodes, write cluster.yaml, init + configure
#   e2e.sh publish               push the rendered repository to the git server
#   e2e.sh bootstrap             task bootstrap:talos, then task bootstrap:apps
#   e2e.sh wait                  nodes, Flux, every Kustomization and HelmRelease Ready
#   e2e.sh diagnostics DIR       everything worth reading after a failure, into DIR
#
# Environment: E2E_CONTROLPLANE_IPS, E2E_WORKER_IPS (comma-separated), E2E_GATEWAY (the
# VMs' router: the runner), E2E_CIDR, E2E_STATE (scratch directory). Runs from the
# repository root, where `task configure` writes the rendered tree.
set -Eeuo pipefail

E2E_DIR=".github/e2e"
STATE="${E2E_STATE:-${RUNNER_TEMP:-/tmp}/clustergen-e2e}"
GIT_PORT="${E2E_GIT_PORT:-8418}"
GIT_PUSH_URL="${E2E_GIT_PUSH_URL:-http://127.0.0.1:${GIT_PORT}/repo.git}"
GIT_CONTAINER="clustergen-e2e-git"
# Soft Serve: a git server with smart HTTP; anonymous read-write for the throwaway repo.
GIT_IMAGE="ghcr.io/charmbracelet/soft-serve:v0.11.6"
WAIT_TIMEOUT="${E2E_WAIT_TIMEOUT:-20m}"

export KUBECONFIG="${PWD}/kubeconfig"
export TALOSCONFIG="${PWD}/talos/clusterconfig/talosconfig"

log() {
    printf '==> %s\n' "$*" >&2
}

die() {
    printf 'e2e: %s\n' "$*" >&2
    exit 1
}

nodes() {
    local list="${E2E_CONTROLPLANE_IPS:?set by talosctl-cluster-action}"
    if [[ -n "${E2E_WORKER_IPS:-}" ]]; then
        list="${list},${E2E_WORKER_IPS}"
    fi
    tr ',' '\n' <<<"${list}"
}

is_controller() {
    local ip="$1" cp
    local -a cps
    IFS=',' read -r -a cps <<<"${E2E_CONTROLPLANE_IPS}"
    for cp in "${cps[@]}"; do
        [[ "${cp}" == "${ip}" ]] && return 0
    done
    return 1
}

runner_setup() {
    log "installing QEMU"
    sudo apt-get update
    sudo apt-get install --yes --no-install-recommends qemu-system-x86 qemu-utils ovmf
    # The VMs' memory is the runner's: swap keeps a spike from OOM-killing a node.
    log "adding 8G of swap"
    sudo fallocate -l 8G /mnt/e2e-swapfile
    sudo chmod 600 /mnt/e2e-swapfile
    sudo mkswap /mnt/e2e-swapfile
    sudo swapon /mnt/e2e-swapfile
}

git_server() {
    log "starting the git server on port ${GIT_PORT}"
    # The container's own shell expands its script: single quotes on purpose.
    # shellcheck disable=SC2016
    docker run --detach --rm --name "${GIT_CONTAINER}" \
        --publish "${GIT_PORT}:23232" \
        --env SOFT_SERVE_SSH_LISTEN_ADDR=127.0.0.1:23231 \
        --entrypoint /bin/sh \
        "${GIT_IMAGE}" \
        -c 'set -eu
            ssh-keygen -q -t ed25519 -N "" -f /tmp/admin
            SOFT_SERVE_INITIAL_ADMIN_KEYS="$(cat /tmp/admin.pub)" /usr/local/bin/soft serve &
            admin() { ssh -q -i /tmp/admin -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -p 23231 localhost "$@"; }
            until admin settings anon-access read-write; do sleep 1; done
            admin repo create repo
            wait' >/dev/null
    local attempt
    for attempt in $(seq 60); do
        if git ls-remote "${GIT_PUSH_URL}" >/dev/null 2>&1; then
            return 0
        fi
        sleep 1
    done
    die "the git server did not answer on ${GIT_PUSH_URL} after ${attempt} tries"
}

# One node's install disk and MAC, from its maintenance API, as a JSON object.
discover() {
    local ip="$1" mac disk controller=false
    mac="$(talosctl --nodes "${ip}" get links --insecure --output json \
        | jq -r 'select(.spec.type == "ether" and .spec.operationalState == "up"
                 and (.metadata.id | startswith("bond") | not)) | .spec.hardwareAddr' \
        | head -n 1)"
    disk="$(talosctl --nodes "${ip}" get disks --insecure --output json \
        | jq -r 'select(.spec.readonly == false and (.metadata.id | startswith("loop") | not))
                 | .metadata.id' \
        | head -n 1)"
    [[ -n "${mac}" ]] || die "${ip}: no network link is up"
    [[ -n "${disk}" ]] || die "${ip}: no writable disk"
    if is_controller "${ip}"; then
        controller=true
    fi
    jq -n --arg address "${ip}" --arg mac "${mac}" --arg disk "/dev/${disk}" \
        --argjson controller "${controller}" \
        '{address: $address, mac_addr: $mac, disk: $disk, controller: $controller}'
}

prepare() {
    local variant="${1:?usage: e2e.sh prepare VARIANT}" ip
    [[ -f "${E2E_DIR}/variants/${variant}.yaml" ]] || die "no variant ${variant}"
    mkdir -p "${STATE}"
    log "discovering the nodes"
    : >"${STATE}/nodes.jsonl"
    while read -r ip; do
        discover "${ip}" >>"${STATE}/nodes.jsonl"
    done < <(nodes)
    jq -s . "${STATE}/nodes.jsonl" >"${STATE}/nodes.json"
    log "writing cluster.yaml (${variant})"
    uv run --frozen python "${E2E_DIR}/cluster_config.py" \
        "${E2E_DIR}/variants/${variant}.yaml" "${STATE}/nodes.json" >cluster.yaml
    uv run --frozen clustergen init
    uv run --frozen clustergen configure
}

# Flux syncs kubernetes/flux/cluster of repository.url: the rendered kubernetes/ tree,
# committed to a fresh repository, as a user pushes theirs.
publish() {
    local work="${STATE}/published"
    log "publishing the rendered repository"
    rm -rf "${work}"
    mkdir -p "${work}"
    cp -R kubernetes "${work}/"
    git -C "${work}" init --quiet --initial-branch main
    git -C "${work}" add --all
    git -C "${work}" -c user.name=e2e -c user.email=e2e@example.invalid \
        commit --quiet --message "rendered by clustergen"
    git -C "${work}" push --quiet --force "${GIT_PUSH_URL}" main
}

bootstrap() {
    log "bootstrapping Talos"
    uv run --frozen task bootstrap:talos
    log "bootstrapping the apps"
    uv run --frozen task bootstrap:apps
}

wait_ready() {
    log "waiting for the nodes"
    kubectl wait nodes --all --for=condition=Ready --timeout="${WAIT_TIMEOUT}"
    log "waiting for Flux"
    kubectl --namespace flux-system wait fluxinstance/flux --for=condition=Ready \
        --timeout="${WAIT_TIMEOUT}"
    kubectl wait gitrepositories --all --all-namespaces --for=condition=Ready \
        --timeout="${WAIT_TIMEOUT}"
    log "waiting for every Kustomization"
    kubectl wait kustomizations --all --all-namespaces --for=condition=Ready \
        --timeout="${WAIT_TIMEOUT}"
    log "waiting for every HelmRelease"
    kubectl wait helmreleases --all --all-namespaces --for=condition=Ready \
        --timeout="${WAIT_TIMEOUT}"
    flux get all --all-namespaces
}

# Best effort: every command may fail on a cluster that never formed; none stops the rest.
diagnostics() {
    local out="${1:?usage: e2e.sh diagnostics DIR}" ip
    mkdir -p "${out}"
    log "collecting diagnostics into ${out}"
    collect() {
        local name="$1"
        shift
        "$@" >"${out}/${name}.txt" 2>&1 || true
    }
    collect flux-all flux get all --all-namespaces
    collect flux-events flux events --all-namespaces
    collect nodes kubectl get nodes --output wide
    collect pods kubectl get pods --all-namespaces --output wide
    collect flux-objects kubectl get fluxinstances,gitrepositories,ocirepositories,helmrepositories,kustomizations,helmreleases --all-namespaces
    collect not-ready-describe kubectl describe kustomizations,helmreleases --all-namespaces
    collect events kubectl get events --all-namespaces --sort-by=.lastTimestamp
    collect cilium-status kubectl --namespace kube-system exec daemonset/cilium -c cilium-agent -- cilium-dbg status --verbose
    collect hubble-drops kubectl --namespace kube-system exec daemonset/cilium -c cilium-agent -- hubble observe --verdict DROPPED --last 200
    collect controllers-logs kubectl --namespace flux-system logs --all-containers --prefix --tail=300 --selector app.kubernetes.io/part-of=flux
    while read -r ip; do
        collect "talos-${ip}-services" talosctl --nodes "${ip}" services
        collect "talos-${ip}-dmesg" talosctl --nodes "${ip}" dmesg
    done < <(nodes)
    collect git-server docker logs --tail 200 "${GIT_CONTAINER}"
    # The rendered tree and cluster.yaml help too; the key files never leave the runner.
    cp cluster.yaml "${out}/" 2>/dev/null || true
}

main() {
    local command="${1:-}"
    shift || true
    case "${command}" in
        runner-setup) runner_setup ;;
        git-server) git_server ;;
        prepare) prepare "$@" ;;
        publish) publish ;;
        bootstrap) bootstrap ;;
        wait) wait_ready ;;
        diagnostics) diagnostics "$@" ;;
        *)
            printf 'usage: %s {runner-setup|git-server|prepare VARIANT|publish|bootstrap|wait|diagnostics DIR}\n' "$0" >&2
            exit 2
            ;;
    esac
}

main "$@"
