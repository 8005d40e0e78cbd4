# Caretaker: the two commands are `make demo` and `make test`. Both install what they need.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
VENV := $(CURDIR)/.venv
export PATH := $(VENV)/bin:$(PATH)
export SAM_CLI_TELEMETRY := 0
export AWS_DEFAULT_REGION ?= us-east-1
export CARGO_TERM_COLOR ?= never

.PHONY: bench-scale rehearse aws-rules checkov invoke check-events package bench-scheduler-vs-custodian bench-scheduler bench-scheduler-vs-custodian bench-budget bench-restore bench-promoter bench-rotator demo test bootstrap fmt-check clippy unit-and-integration lint-template build bench stack-up stack-down

## demo: start the local stack, seed the estate, run each function as a Lambda binary, print what it did
demo: bootstrap
	@echo "==> building the function binaries (the first build of the AWS SDK takes a few minutes)"
	cargo build --workspace --bins
	tools/stack.py run --iam -- $(VENV)/bin/python tools/demo.py

## test: formatting, clippy, unit + integration tests against the local stack, template lint and checks, the deploy rehearsal
test: bootstrap fmt-check clippy unit-and-integration lint-template aws-rules checkov rehearse
	@echo "==> make test: all green"

bootstrap:
	@tools/bootstrap.sh

fmt-check:
	@echo "==> cargo fmt --check"
	cargo fmt --all -- --check

clippy:
	@echo "==> cargo clippy -D warnings (first build of the AWS SDK takes a few minutes)"
	cargo clippy --workspace --all-targets -- -D warnings

unit-and-integration:
	@echo "==> unit and integration tests against the local stack (moto + PostgreSQL 15 with TLS)"
	cargo build --workspace --bins
	tools/stack.py run -- cargo test --workspace --lib --bins --tests

lint-template:
	@echo "==> cfn-lint and sam validate --lint, for every place samconfig.toml deploys to"
	cfn-lint template.yaml deploy/spoke.yaml
	$(VENV)/bin/python tools/lint_places.py
	for env in default dev prod; do sam validate --lint --template-file template.yaml --region $(AWS_DEFAULT_REGION) --config-env $$env; done

## aws-rules: AWS's rules that moto does not model (key, topic, queue and Lambda policies, roles' trust), over the translated template
aws-rules: bootstrap
	@echo "==> AWS's rules moto does not model, over the SAM-translated template (tests/aws_rules)"
	$(VENV)/bin/python -m pytest -q -p no:cacheprovider tests/aws_rules

## checkov: every finding fixed or skipped inline in the template with its reason
checkov: bootstrap
	@echo "==> checkov over template.yaml and deploy/spoke.yaml (skips are inline, each with its reason)"
	$(CURDIR)/.venv-checkov/bin/checkov --quiet --compact --skip-download --framework cloudformation -f template.yaml -f deploy/spoke.yaml

## rehearse: the template deployed into three local accounts with IAM enforced; every events/ case, the demo, and a policy with a statement removed, each function under its own role
rehearse: bootstrap
	@echo "==> the deploy rehearsal: three local accounts, IAM enforced, each function under its own role"
	cargo build --workspace --bins
	$(VENV)/bin/python tools/rehearse.py

build:
	cargo build --workspace --bins

## package: the five functions for arm64 as sam build builds them, with their bootstrap and zip sizes
package: bootstrap
	$(VENV)/bin/python tools/package.py

## invoke: one events/ case through cargo lambda, with the stack, the estate and its fixtures: make invoke FN=secret-rotator CASE=create-secret [RELEASE=1]
invoke: bootstrap
	cargo build --workspace --bins
	tools/stack.py run --iam -- $(VENV)/bin/python tools/invoke.py $(if $(RELEASE),--release) $(FN) $(CASE)

## check-events: every events/ case, each compared with events/expected.json
check-events: bootstrap
	@echo "==> every events/ case through cargo lambda, compared with events/expected.json"
	cargo build --workspace --bins
	tools/stack.py run --iam -- $(VENV)/bin/python tools/invoke.py --all

## bench: benchmarks that print figures (never timed assertions)
bench: bench-rotator bench-promoter bench-restore bench-budget bench-scheduler

## bench-scale: one periodic run over 200 dev accounts of an OU (25 resources each, +50 ms a call): time, memory, calls
bench-scale: bootstrap
	cargo build -p dev-scheduler -p caretaker-tests --bin kube-standin
	tools/stack.py run -- cargo bench -p caretaker-tests --bench scale

bench-scheduler: bootstrap
	cargo build --release -p dev-scheduler -p caretaker-tests --bin dev-scheduler --bin kube-standin
	tools/stack.py run -- cargo bench -p caretaker-tests --bench scheduler
	tools/stack.py run -- $(VENV)/bin/python tools/bench_scheduler.py

## Cloud Custodian lives in its own venv (.venv-bench), so its boto3 never meets moto's or SAM's.
bench-scheduler-vs-custodian: bootstrap
	cargo build --release -p dev-scheduler --bin dev-scheduler
	@[ -x .venv-bench/bin/custodian ] || { python3 -m venv .venv-bench && .venv-bench/bin/pip install --quiet --disable-pip-version-check c7n==0.9.53 boto3; }
	tools/stack.py run -- $(CURDIR)/.venv-bench/bin/python tools/bench_custodian.py

bench-budget: bootstrap
	tools/stack.py run -- cargo bench -p caretaker-tests --bench budget_digest

bench-restore: bootstrap
	tools/stack.py run -- cargo bench -p caretaker-tests --bench restore_verify

bench-promoter: bootstrap
	tools/stack.py run -- cargo bench -p caretaker-tests --bench promoter

bench-rotator: bootstrap
	@echo "==> building secret-rotator in release mode"
	cargo build --release -p secret-rotator
	tools/stack.py run -- $(VENV)/bin/python tools/bench_rotator.py

stack-up: bootstrap
	@tools/stack.py up

stack-down:
	@tools/stack.py down
