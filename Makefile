.PHONY: run test ci bench load sam-local mutants mutants-bump scale
# Run the service locally against moto: http://127.0.0.1:$${PORT:-3000}
run:
	scripts/dev/run-local.sh
# Everything: unit tests, integration tests against moto, events, concurrency.
test:
	scripts/lib/ensure-venv.sh local/requirements.txt
	cargo test --workspace --all-targets
# What CI runs (tests plus lint, arm64 release build, SAM validation, Lambda smoke test).
ci:
	bash .ci/run
# Cold start, RSS, arm64 size and warm CPU per request of every function (BENCHMARKS.md).
bench:
	bench/run.sh
# Bounded load test against `make run`'s server: 50 clients for 2 minutes, every endpoint
# (LOAD_CLIENTS, LOAD_SECONDS). Not part of `make test`.
load:
	scripts/dev/load.sh
# Family C's sends and verifications at fixed offered rates through testkit's DynamoDB-under-load
# stand-in: the ceiling in one item, then in 512 shards at 5,000 + 20,000 a second, then exactness
# at a limit (docs/scale.md; SCALE_SECONDS, SCALE_ONLY). ~15 min, ~9 GB. Not part of `make test`.
scale:
	cargo run --release -q -p shared --example scale
# `sam build`, then `sam local invoke` of every sample event and `sam local start-api` through
# every route, in Lambda containers (arm64 under qemu) against moto. Root: installs Docker,
# mmdebstrap and qemu from apt if missing and starts its own dockerd (docs/deploy.md, SAM local).
sam-local:
	scripts/ci/sam-local.sh
# Mutation testing of the security core (cargo-mutants, pinned; hours for the whole core):
# every survivor caught or listed in .cargo/mutants-accepted.txt. FILES=... for a part;
# DIFF=1 for CI's step: the core's changes since .cargo/mutants-base, at most 8 mutants.
mutants:
	scripts/dev/mutants.sh
# The core's changes since .cargo/mutants-base, however many mutants; on a pass, the base
# moves to HEAD (commit .cargo/mutants-base with the change: CI then has nothing to run).
mutants-bump:
	BUMP=1 scripts/dev/mutants.sh
