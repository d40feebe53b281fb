# zoom-symbl: local stack, tests and demo. Everything installs itself on first use.
SHELL := /bin/bash
.DEFAULT_GOAL := help
CARGO ?= cargo

.PHONY: help tools up deploy down status lint build-arm64 unit e2e scan-logs fuzz test demo bench bench-merge bench-cold-start bench-webhook bench-pipeline bench-producer bench-reconcile bench-speech bench-page clean-local

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

tools: ## install pinned tools (.venv/) and ffmpeg
	@scripts/tools.sh

up: tools ## start the local AWS stack (ministack)
	@scripts/stack.sh up

deploy: tools ## build the functions and deploy template.yaml to the local stack
	@scripts/stack.sh deploy

down: ## stop the local stack
	@scripts/stack.sh down

status: ## local stack health and outputs
	@scripts/stack.sh status

lint: tools ## formatting, template checks and clippy
	$(CARGO) fmt --all --check
	.venv/sam/bin/sam validate --lint
	.venv/sam/bin/cfn-lint template.yaml
	$(CARGO) clippy --workspace --all-targets -- -D warnings

unit: ## unit and handler tests, and the template checks (no stack needed)
	$(CARGO) test
	$(CARGO) test -p e2e --test template

build-arm64: tools ## sam build for arm64 (cross-compiled with zig), offline; PROFILE=release for the exact AWS build
	@scripts/build_arm64.sh

# Without backtraces: a failing test's message (the email it got, the state it saw) is what
# tells why, and CI shows only part of the output.
e2e: deploy ## end-to-end tests against the deployed local stack, then the log scan for secrets
	$(CARGO) build -p zoom-symbl-cli
	RUST_BACKTRACE=0 $(CARGO) test -p e2e --no-fail-fast -- --test-threads 4
	@$(MAKE) --no-print-directory scan-logs

scan-logs: ## fail if any secret, token or presigned signature is in the local functions' logs
	.venv/ministack/bin/python scripts/scan_logs.py

fuzz: ## coverage-guided fuzzing of both webhook parsers (FUZZ_SECONDS per target, default 30)
	@scripts/fuzz.sh $${FUZZ_SECONDS:-30}

# The fuzz targets build (release, ~9 min on 2 cores) at the lowest priority while the e2e
# suite mostly waits on the stack's timers; the fuzzing itself runs after it.
test: lint unit build-arm64 ## everything CI runs
	@mkdir -p target; nice -n 19 scripts/fuzz.sh --build-only >target/fuzz-build.log 2>&1 & build=$$!; \
	  $(MAKE) --no-print-directory e2e; rc=$$?; \
	  if ! wait $$build; then echo "fuzz build failed:"; tail -n 40 target/fuzz-build.log; exit 1; fi; \
	  exit $$rc
	@$(MAKE) --no-print-directory fuzz

demo: deploy ## run the pipeline locally on a generated meeting
	@scripts/demo.sh

bench: bench-cold-start bench-merge bench-webhook bench-pipeline bench-speech bench-page ## every benchmark in BENCHMARKS.md (JSON in target/bench/)

bench-merge: tools ## merge path vs the floor and the original's approach, release stack (SIZES=2x10,8x60,16x60)
	@scripts/bench/merge.sh

bench-cold-start: ## each function binary's cold start against a stub Lambda Runtime API
	@scripts/bench_cold_start.sh

bench-webhook: deploy ## webhook latency and throughput on the local stack
	$(CARGO) run -q -p e2e --bin webhook-latency -- 500

bench-pipeline: deploy ## one 3-person, 5-minute meeting end to end, three times, stage by stage
	$(CARGO) run -q -p e2e --bin pipeline-timing -- 3

bench-reconcile: deploy ## the reconciler's run time and read units at 1,000 and 10,000 meetings (SIZES=1000,10000)
	.venv/ministack/bin/python scripts/bench/reconcile.py $${SIZES:-1000,10000}

bench-producer: deploy ## producer on an 8-participant, 60-minute meeting (N=8 MINUTES=60 to change)
	$(CARGO) run -q -p e2e --bin producer-bench -- $${N:-8} $${MINUTES:-60}

bench-speech: tools ## speech cut on an 8-person hour of espeak-ng speech: billed vs truth, kept, time vs decode (SIZES=speech:8x60)
	@command -v espeak-ng >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq espeak-ng >/dev/null; }
	$(CARGO) run -q --release -p e2e --bin speech-cut -- $${SIZES:-speech:8x60}

bench-page: deploy ## the meeting page of an 8-person hour: its size, and its time over 20 views vs a 3-line meeting's (VIEWS=20)
	$(CARGO) run -q -p e2e --bin page-bench -- $${VIEWS:-20}

clean-local: down ## forget local state (.local/, .aws-sam/)
	rm -rf .local .aws-sam
