# mignet: `make run` to try it, `make test` to check everything.
CARGO ?= cargo
MIGNET := target/release/mignet

.PHONY: run check test build lint fmt bench image dev-manifests fuzz soak clean

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
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings
	$(CARGO) test --workspace --all-targets --locked

build:
	$(CARGO) build --release --locked

lint:
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

fmt:
	$(CARGO) fmt --all

## bench: criterion micro-benchmarks (decisions, host networks, migrations in flight), the live view at 100k NADs, load runs against the release server (benches/load.sh), the HTML page at 10k NADs (benches/page.sh)
bench:
	$(CARGO) bench --bench decide
	$(CARGO) bench --bench host_networks
	$(CARGO) bench --bench live_view
	$(CARGO) bench --bench free
	$(CARGO) bench --bench in_flight
	bash benches/load.sh
	bash benches/page.sh

VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
IMAGE ?= localhost/mignet:$(VERSION)
CONTAINER_ENGINE ?= $(shell command -v podman 2>/dev/null || command -v docker 2>/dev/null)

## image: build the container image $(IMAGE) with podman or docker (Containerfile)
image:
	@if [ -z "$(CONTAINER_ENGINE)" ]; then \
		echo "make image: needs podman or docker, and neither is installed (or set CONTAINER_ENGINE)" >&2; \
		exit 1; \
	fi
	$(CONTAINER_ENGINE) build -f Containerfile -t $(IMAGE) .

## dev-manifests: webhooks calling a mignet on this machine (DEV_URL) -> target/dev-manifests.yaml
dev-manifests:
	sh hack/dev-manifests.sh

FUZZ_SECONDS ?= 300
FUZZ_TARGETS := cni_config admission input_reader

## fuzz: run each cargo-fuzz target FUZZ_SECONDS (nightly toolchain; installs cargo-fuzz when missing)
fuzz:
	command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	for t in $(FUZZ_TARGETS); do \
		mkdir -p target/fuzz-corpus/$$t && \
		$(CARGO) +nightly fuzz run -O $$t target/fuzz-corpus/$$t fuzz/corpus/$$t -- \
			-max_total_time=$(FUZZ_SECONDS) -max_len=16384 -timeout=10 -rss_limit_mb=2048 || exit 1; \
	done

## soak: minutes of load against a release server, its memory sampled (MIGNET_SOAK_SECONDS, default 180)
soak:
	$(CARGO) test --release --locked --test faults -- --ignored --nocapture soak_memory_levels_off

clean:
	$(CARGO) clean
