# mignet: `make run` to try it, `make test` to check everything.
CARGO ?= cargo
MIGNET := target/release/mignet

.PHONY: run test build lint fmt bench clean

## run: judge the example objects (the reference setup against a sample cluster)
run:
	$(CARGO) run --release --quiet -- check --cluster-state examples/cluster examples/migration-nad.yaml examples/hyperconverged.yaml

## test: formatting, lints (warnings are errors) and every test
test:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets --locked -- -D warnings
	$(CARGO) test --all-targets --locked

build:
	$(CARGO) build --release --locked

lint:
	$(CARGO) clippy --all-targets --locked -- -D warnings

fmt:
	$(CARGO) fmt --all

## bench: criterion micro-benchmarks of the policy core
bench:
	$(CARGO) bench --bench decide

clean:
	$(CARGO) clean
