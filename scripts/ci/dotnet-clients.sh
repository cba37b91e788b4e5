#!/usr/bin/env bash
# Issue 14: the service as real .NET clients read it. Compiles clients/dotnet (Mono's mcs,
# .NET's own DataContractSerializer and DataContractJsonSerializer, Json.NET) and runs it
# against the local server (`make run` on free ports): every endpoint and format, every answer
# shape, each answer read into the seed pages' DTOs, written back and compared with what the
# service sent. Installs Mono and Json.NET with apt-get when mcs is missing (CI runs as root).
# Usage: scripts/ci/dotnet-clients.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
NEWTONSOFT=/usr/lib/cli/Newtonsoft.Json-5.0/Newtonsoft.Json.dll
if ! command -v mcs >/dev/null || [ ! -f "$NEWTONSOFT" ]; then
  started=$(date +%s)
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq mono-complete libnewtonsoft-json-cil-dev >/dev/null
  echo "mono installed in $(( $(date +%s) - started )) s"
fi
scripts/lib/ensure-venv.sh local/requirements.txt

out=target/dotnet-clients
mkdir -p "$out"
src=clients/dotnet
# Family A's DTOs twice: in Cdn.Api's namespace, and in ServiceStack's (ServiceStackNamespace.cs),
# told apart in Program.cs by extern aliases.
mcs -nologo -t:library -out:"$out/FamilyA.Cdn.dll" "$src/FamilyA.cs"
mcs -nologo -t:library -r:System.Runtime.Serialization -out:"$out/FamilyA.ServiceStack.dll" \
  "$src/FamilyA.cs" "$src/ServiceStackNamespace.cs"
mcs -nologo -warnaserror -out:"$out/DotnetClients.exe" \
  -r:Cdn="$out/FamilyA.Cdn.dll" -r:SS="$out/FamilyA.ServiceStack.dll" -r:"$NEWTONSOFT" \
  -r:System.Runtime.Serialization -r:System.Net.Http -r:System.Xml -r:System.Xml.Linq -r:System.Core \
  "$src/Program.cs" "$src/FamilyB.cs" "$src/FamilyC.cs" "$src/WebApiError.cs" "$src/Compare.cs"
cp "$NEWTONSOFT" "$out/"

# Every request comes from 127.0.0.1, and this client checks wire formats, not the guards
# (shared/tests/api/guards.rs does): it sends more than one caller's hourly budget, to numbers of
# one block without verifying them all. The environment wins over local/local.env.
export CALLER_SEND_LIMIT=100000 CALLER_FAILURE_LIMIT=100000 SMS_BLOCK_MIN_SENDS=100000
. scripts/lib/local-server.sh
start_local_server "$(mktemp)"
mono "$out/DotnetClients.exe" "$LOCAL_URL"
