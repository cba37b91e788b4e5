#!/usr/bin/env bash
# `make sam-local` (a CI step): the functions as `sam local` runs them, in Lambda containers of
# a Docker engine started here, against a local moto (DynamoDB, SNS, SES v2):
#   1. `sam build` from template.yaml; its cargo lambda builds are cargo no-ops after
#      `cargo lambda build --release --arm64` (same flags, same target directory), and what
#      it copies must be those binaries, byte for byte. Their glibc symbol versions are
#      checked against Amazon Linux 2023's glibc (2.34).
#   2. `sam local invoke` of every function with every sample event of it in events/, and
#      `sam local start-api` with a request per route of the template: status, body shape,
#      the message in moto's inbox (scripts/ci/sam_local_check.py).
# No image registry is needed: SAM's provided.al2023 base image is stood in for by a minimal
# Debian root file system (mmdebstrap, from Debian's packages) tagged with the name SAM looks
# for; SAM adds the runtime interface emulator shipped in its own wheel. The image is cached in
# $SAM_LOCAL_CACHE. arm64, the template's architecture, runs under qemu-user.
# Root only (apt, dockerd, a network namespace). Everything runs in a network namespace of its
# own with no route out: dockerd and its containers on their bridge, moto (172.17.0.1:5000,
# the address local/sam-env.json gives the functions), SAM. dockerd and everything started
# here are stopped by PID when this ends, pass or fail.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PWD/.venv/bin:$HOME/.cargo/bin:$PATH"
CACHE=${SAM_LOCAL_CACHE:-/var/cache/verification-codes-sam-local}
NETNS=verification-codes-sam-local
SUITE=bookworm
# Enough for SAM's image build (sh, mv, chmod) and the functions (glibc, libgcc_s).
PACKAGES=base-files,dash,coreutils,libc6,libgcc-s1
BASE_IMAGE=public.ecr.aws/lambda/provided:al2023-arm64
RAPID_IMAGE=public.ecr.aws/lambda/provided:al2023-rapid-arm64
AL2023_GLIBC=2.34
# No AWS credentials or profiles for SAM: with some, `sam local` first asks STS for the account
# (no route: ~11 s of retries per invoke); without, it hands the containers placeholders,
# which moto takes. The functions get moto's address from local/sam-env.json.
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_PROFILE AWS_ENDPOINT_URL
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
export AWS_EC2_METADATA_DISABLED=true SAM_CLI_TELEMETRY=0

started=$(date +%s)
phase() { echo "sam-local: [$(($(date +%s) - started)) s] $*"; }
fail() { echo "sam-local: FAIL: $*" >&2; exit 1; }
# Once more after 10 s: for the downloads from Debian's archive only (apt, mmdebstrap).
twice() { "$@" || { echo "sam-local: retrying in 10 s: $*"; sleep 10; "$@"; }; }
[ "$(id -u)" = 0 ] || fail "needs root (apt-get, dockerd, a network namespace)"
run=$(mktemp -d /tmp/sam-local.XXXXXX)
inns() { nsenter --net="/run/netns/$NETNS" "$@"; }
# Long steps run in the background and are waited for: a signal then ends the script (and
# runs the cleanup) at once, not when the step is over.
step_pid=
fg() {
  local status=0
  "$@" &
  step_pid=$!
  wait "$step_pid" || status=$?
  step_pid=
  return "$status"
}
cleanup() {
  local status=$? pid
  trap - EXIT INT TERM
  set +e
  [ -z "$step_pid" ] || kill -TERM "$step_pid" 2>/dev/null
  [ -z "${moto_pid:-}" ] || kill -TERM "$moto_pid" 2>/dev/null
  if [ -n "${dockerd_pid:-}" ] && kill -0 "$dockerd_pid" 2>/dev/null; then
    # Containers first (SAM's, should it have left any), then the daemon and its containerd.
    mapfile -t ids < <(timeout 20 docker ps -aq 2>/dev/null)
    [ ${#ids[@]} -eq 0 ] || timeout 60 docker rm -f "${ids[@]}" >/dev/null 2>&1
    kill -TERM "$dockerd_pid"
    for _ in $(seq 1 100); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.2; done
  fi
  if [ -n "${own_netns:-}" ]; then
    # Whatever still runs in the namespace (the checks and SAM, a stuck dockerd, containerd, shims).
    for pid in $(ip netns pids "$NETNS"); do
      echo "sam-local: stopping $pid ($(tr '\0' ' ' <"/proc/$pid/cmdline" | cut -c1-80))"
      kill -KILL "$pid"
    done
    ip netns delete "$NETNS"
    # Mounts a killed daemon left behind (its data root, container file systems, namespaces).
    findmnt -rn -o TARGET | grep -E "^($run|$CACHE)/" | sort -r | xargs -r umount -l
  fi
  rm -rf "$run"
  phase "stopped dockerd and everything started here (exit $status)"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

phase "install"
scripts/lib/ensure-venv.sh local/requirements.txt .ci/requirements.txt
missing=()
for pkg in docker.io mmdebstrap qemu-user-static binfmt-support arch-test; do
  [ "$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null)" = installed ] || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "sam-local: apt-get install ${missing[*]}"
  twice timeout 300 apt-get update -qq || fail "apt-get update"
  twice env DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq --no-install-recommends "${missing[@]}" \
    >"$run/apt.log" 2>&1 || { tail -20 "$run/apt.log"; fail "apt-get install ${missing[*]}"; }
fi
if [ "$(uname -m)" != aarch64 ]; then
  # arm64 binaries through qemu, registered with the F flag so that it works in containers.
  mountpoint -q /proc/sys/fs/binfmt_misc || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  grep -qx enabled /proc/sys/fs/binfmt_misc/qemu-aarch64 2>/dev/null || update-binfmts --enable qemu-aarch64
  grep -q '^flags: .*F' /proc/sys/fs/binfmt_misc/qemu-aarch64 || fail "qemu-aarch64 is registered without the F flag"
  arch-test arm64 >/dev/null || fail "arm64 binaries do not run here (arch-test arm64)"
fi

phase "sam build (reusing cargo lambda build --release --arm64)"
# A no-op after CI's arm64 build step; builds what is missing or stale otherwise.
fg cargo lambda build --release --arm64 || fail "cargo lambda build --release --arm64"
target=$(cargo metadata --format-version 1 --no-deps |
  python -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
fg sam build --no-cached >"$run/sam-build.log" 2>&1 || { tail -30 "$run/sam-build.log"; fail "sam build"; }
python - "$target" <<'EOF' || fail "sam build's binaries are not cargo lambda's"
import filecmp, os, sys
sys.path.insert(0, "scripts/lib")
from cfn import load_template
template = load_template("template.yaml")
functions = {fid: r["Metadata"]["BuildProperties"]["Binary"] for fid, r in template["Resources"].items()
             if r["Type"] == "AWS::Serverless::Function"}
built = os.path.join(sys.argv[1], "lambda")
bad = [fid for fid, binary in functions.items()
       if not filecmp.cmp(f".aws-sam/build/{fid}/bootstrap", f"{built}/{binary}/bootstrap", shallow=False)]
for fid in bad:
    print(f"sam-local: {fid}: .aws-sam/build/{fid}/bootstrap differs from target/lambda/{functions[fid]}/bootstrap")
print(f"sam-local: {len(functions) - len(bad)} of {len(functions)} functions: sam build copied cargo lambda's binary")
sys.exit(1 if bad else 0)
EOF
for bootstrap in .aws-sam/build/*/bootstrap; do
  needs=$(readelf -V -W "$bootstrap" | grep -o 'Name: GLIBC_[0-9.]*' | sed 's/.*GLIBC_//' | sort -uV | tail -1)
  [ -n "$needs" ] || fail "$bootstrap: no glibc version needs found (readelf -V)"
  newest=$(printf '%s\n%s\n' "$needs" "$AL2023_GLIBC" | sort -V | tail -1)
  [ "$newest" = "$AL2023_GLIBC" ] || fail "$bootstrap needs GLIBC_$needs; Amazon Linux 2023 has $AL2023_GLIBC"
  echo "sam-local: $bootstrap needs glibc <= $needs (AL2023: $AL2023_GLIBC)"
done

phase "network namespace and dockerd"
if [ -e "/run/netns/$NETNS" ]; then
  [ -z "$(ip netns pids "$NETNS")" ] || fail "network namespace $NETNS is in use: is another sam-local run going?"
  ip netns delete "$NETNS"
fi
ip netns add "$NETNS"
own_netns=1
inns ip link set lo up
mkdir -p "$CACHE"
# No iptables, masquerading or forwarding: nothing leaves the namespace, and containers reach
# moto on their bridge's own address. Published ports go through docker-proxy.
nsenter --net="/run/netns/$NETNS" setsid dockerd --data-root "$CACHE/docker" --exec-root "$run/exec" \
  --pidfile "$run/dockerd.pid" -H "unix://$run/docker.sock" --bip 172.17.0.1/16 \
  --iptables=false --ip-masq=false --ip-forward=false >"$run/dockerd.log" 2>&1 &
dockerd_pid=$!
export DOCKER_HOST="unix://$run/docker.sock"
for _ in $(seq 1 120); do
  docker version >/dev/null 2>&1 && break
  kill -0 "$dockerd_pid" 2>/dev/null || { tail -20 "$run/dockerd.log"; fail "dockerd exited"; }
  sleep 0.5
done
docker version >/dev/null 2>&1 || { tail -20 "$run/dockerd.log"; fail "dockerd did not answer in 60 s"; }

phase "base image ($BASE_IMAGE)"
recipe=$( (echo "$SUITE $PACKAGES"; cat scripts/ci/sam_base_image.py) | sha256sum | cut -c1-16)
have=$(docker image inspect -f '{{index .Config.Labels "sam-local.recipe"}}' "$BASE_IMAGE" 2>/dev/null || true)
if [ "$have" = "$recipe" ]; then
  echo "sam-local: cached in $CACHE (recipe $recipe)"
else
  # The packages only unpacked (no maintainer scripts): no emulation needed to build it.
  fg twice timeout 600 mmdebstrap --quiet --variant=extract --include="$PACKAGES" --arch=arm64 --mode=root \
    --format=tar "$SUITE" "$run/rootfs.tar" || fail "mmdebstrap"
  python scripts/ci/sam_base_image.py "$run/rootfs.tar" arm64 "$BASE_IMAGE" "sam-local.recipe=$recipe" | docker load
  rm -f "$run/rootfs.tar"
fi
# SAM builds its emulation image on the base once (ADD its runtime interface emulator):
# drop an earlier run's, so this run's SAM builds its own.
docker rmi -f "$RAPID_IMAGE" >/dev/null 2>&1 || true
docker image prune -f >/dev/null

phase "moto"
fifo="$run/moto.fifo"; mkfifo "$fifo"
nsenter --net="/run/netns/$NETNS" setsid python local/moto_launcher.py --host 0.0.0.0 --port 5000 \
  --template template.yaml --table-name verification-codes >"$fifo" 2>"$run/moto.log" &
moto_pid=$!
read -r -t 60 ready <"$fifo" || { cat "$run/moto.log"; fail "moto did not start"; }
echo "sam-local: moto $ready (the functions' AWS_ENDPOINT_URL: http://172.17.0.1:5000)"

phase "sam local invoke, every event"
fg inns python scripts/ci/sam_local_check.py invoke --moto http://127.0.0.1:5000 || fail "sam local invoke (above)"

phase "sam local start-api, every route"
fg inns python scripts/ci/sam_local_check.py start-api --moto http://127.0.0.1:5000 --port 3000 ||
  fail "sam local start-api (above)"
phase "done"
