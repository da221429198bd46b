# mignet: `make run` to try it, `make test` to check everything.
CARGO ?= cargo
MIGNET := target/release/mignet

.PHONY: run check test build lint fmt bench clean

EXAMPLE_STATE := --cluster-state examples/migration-nad.yaml --cluster-state examples/hyperconverged.yaml \
	--cluster-state examples/cluster

## run: serve the webhook on https://127.0.0.1:8443 with dev certs and the examples as the cluster
run: certs/tls.crt
	$(CARGO) run --release --quiet -- serve --addr 127.0.0.1:8443 --cert certs/tls.crt --key certs/tls.key \
		--cluster off $(EXAMPLE_STATE)

## certs: development CA and serving certificate in certs/ (kept if present)
certs/tls.crt:
	$(CARGO) run --release --quiet -- certs --out certs

## check: judge the example objects offline, as CI would
check:
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
