# The two commands a fresh machine needs: `make demo` (the local two-account drill) and
# `make test`. Both run `setup` themselves. See README.md.

SHELL := /bin/bash
.DEFAULT_GOAL := help

# Builds are shared across clones (CI clones afresh); the SDK crates take minutes to build.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/drctl-target
# drctl and the tests find the venv and fixtures of this checkout, not of the clone a shared
# build was compiled in (see LauncherPaths::repo_root).
export DRCTL_REPO_ROOT := $(CURDIR)
# Never let the SDK's default credential chain reach for instance metadata (off loopback).
export AWS_EC2_METADATA_DISABLED := true

# Every debug build is the whole workspace with all its targets: the adapters' unit tests
# turn on the SDK's test-util features, and cargo builds the SDK once per feature set, so a
# narrower build (--bins, -p …) would compile the SDK crates a second time.
BUILD   := cargo build --workspace --all-targets --locked

VENV    := .venv
STAMP   := $(VENV)/.installed-$(shell sha256sum scripts/sandbox/requirements.txt | cut -c1-12)
DRCTL   := $(CARGO_TARGET_DIR)/debug/drctl
# The sandbox's own tool: the operators' drctl ships none of the test world.
SANDBOX := $(CARGO_TARGET_DIR)/debug/drctl-sandbox
CONFIG  := config/sandbox.toml

.PHONY: help setup build test lint fmt demo bench sandbox-up sandbox-down sandbox-reset clean \
	infra-build infra-test lambda-zips synth contract-fixtures chaos fuzz

# The CDK app (infra/): its npm packages, reinstalled exactly when the lockfile changes.
INFRA_STAMP := infra/node_modules/.installed-$(shell sha256sum infra/package-lock.json | cut -c1-12)
# Lambda architecture for lambda-zips and synth: arm64 for real deploys.
ARCH    ?= arm64

help: ## List the targets.
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

setup: $(STAMP) ## Create the venv: pinned moto server and cargo-lambda (Runtime API emulator).

$(STAMP): scripts/sandbox/requirements.txt
	@scripts/setup.sh
	@rm -f $(VENV)/.installed-* && touch $@

build: setup ## Build every crate and test.
	$(BUILD)

test: setup ## Run every test; starts and stops its own sandbox.
	@scripts/test.sh

lint: ## rustfmt and clippy, warnings as errors.
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --locked -- -D warnings

fmt: ## Format the code.
	cargo fmt --all

demo: setup infra-build ## The local two-account drill, end to end.
	$(BUILD)
	@DRCTL=$(DRCTL) SANDBOX=$(SANDBOX) CONFIG=$(CONFIG) scripts/demo.sh

bench: setup ## Benchmarks; prints tables of measured figures.
	@# Dev profile: the figures are bound by the sandbox (a Python server), not by our code,
	@# and a release build of the AWS SDK would cost ten minutes on two cores.
	@# The game day runs the real Lambda binaries.
	$(BUILD)
	cargo bench --locked --profile dev -p sandbox-tests
	@# Our own CPU-bound code: measure it optimised (dr-core builds fast).
	cargo bench --locked -p dr-core --bench diff
	cargo bench --locked -p dr-core --bench failover_simulation
	cargo bench --locked -p dr-core --bench status_pass
	cargo bench --locked -p dr-core --bench fleet_rto

chaos: setup ## The chaos suite at the issue's size (2,000 certificates; make test runs 100).
	$(BUILD)
	DRCTL_CHAOS_CERTIFICATES=2000 cargo test --locked -p sandbox-tests --test sandbox -- chaos:: --nocapture

fuzz: ## The parser fuzz suite for longer (make test runs 256 cases per property).
	PROPTEST_CASES=20000 cargo test --locked --release -p dr-core --test fuzz_parsers

sandbox-up: setup infra-build ## Start the sandbox on the config's endpoint and provision both accounts.
	$(BUILD)
	$(SANDBOX) --config $(CONFIG) up

sandbox-down: ## Stop the sandbox started by sandbox-up.
	$(BUILD)
	$(SANDBOX) --config $(CONFIG) down

sandbox-reset: ## Empty both accounts and provision them again.
	$(SANDBOX) --config $(CONFIG) reset

$(INFRA_STAMP): infra/package-lock.json
	cd infra && npm ci --no-audit --no-fund
	@touch $@

# The sandbox's IAM is the CDK app's: provisioning runs infra/dist/bin/sandbox-iam.js.
infra-build: setup $(INFRA_STAMP) ## Compile the CDK app (the sandbox enforces the IAM it synthesizes).
	cd infra && npm run --silent build

infra-test: setup $(INFRA_STAMP) ## CDK app tests: stack assertions, cdk-nag, cfn-lint (run by test).
	cd infra && npm test

lambda-zips: setup ## Release zips of the Lambdas for the CDK app (ARCH=arm64|x86_64).
	scripts/build-lambdas.sh $(ARCH)

# The CDK app reads the topology as drctl does, through its deployment contract (`drctl
# config export --json`): it parses no TOML of its own.
CONTRACT := infra/cdk.out/contract.json

synth: setup $(INFRA_STAMP) ## CDK templates into infra/cdk.out (CONFIG, ARCH; placeholder code without lambda-zips).
	$(BUILD)
	mkdir -p $(dir $(CONTRACT))
	$(DRCTL) --config $(CONFIG) config export --json > $(CONTRACT)
	cd infra && npm run --silent build && node dist/bin/app.js -c contract=$(abspath $(CONTRACT)) \
		-c lambdaArchitecture=$(ARCH) -c allowPlaceholderAssets=true

# The contracts the CDK app's tests read, regenerated from their configs (a dr-aws test
# fails when they differ from what the code exports): config/sandbox.toml's as
# contract.json, each infra/test/fixtures/<name>.toml's as contract-<name>.json. Without
# DRCTL__ overrides: the fixtures are the files' own.
FIXTURES := infra/test/fixtures
contract-fixtures: ## Regenerate infra/test/fixtures/contract*.json after a change to the contract or its configs.
	$(BUILD)
	@unset $$(env | grep -o '^DRCTL__[A-Z0-9_]*'); set -e; \
	$(DRCTL) --config config/sandbox.toml config export --json > $(FIXTURES)/contract.json; \
	for config in $(FIXTURES)/*.toml; do \
		name=$$(basename $$config .toml); \
		$(DRCTL) --config $$config config export --json > $(FIXTURES)/contract-$$name.json; \
	done; \
	echo "contract-fixtures: $$(ls $(FIXTURES)/contract*.json | tr '\n' ' ')"

clean: ## Remove the venv and sandbox state (the shared target dir stays).
	rm -rf $(VENV) .sandbox reports
